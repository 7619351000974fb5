"""Queries of the point-issuance service. Balance changes are single conditional UPDATEs, never read-then-write."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.driver_sql import DriverStatement, Outcome
from common.models import (
    Application,
    Grant,
    IdempotencyRecord,
    InboundWebhook,
    LedgerEntry,
    OutboxEvent,
    Program,
    Provider,
    RosterEntry,
)
from common.models.mynapoint import DeliveryStatus, GrantStatus, LedgerKind
from common.pagination import PageParams

# --- the application path, in driver-level SQL (see common/driver_sql.py) ----------------------------------


def _values(table: Table, *names: str) -> dict:
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


def _insert_or_nothing(dialect: str, table: Table):
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)


APPLICANT = DriverStatement(lambda _dialect: (
    select(Program.kind, Program.points_per_person, Program.provider_ids, Program.eligibility, Program.opens_at,
           Program.closes_at, Application.id, RosterEntry.myki_hash, RosterEntry.birth_date,
           RosterEntry.household_with_children, RosterEntry.income_band, RosterEntry.activity_participation)
    .select_from(Program)
    .outerjoin(Application, and_(Application.program_id == Program.id,
                                 Application.myki_hash == bindparam("myki_hash")))
    .outerjoin(RosterEntry, and_(RosterEntry.program_id == Program.id,
                                 RosterEntry.myki_hash == bindparam("myki_hash")))
    .where(Program.id == bindparam("program_id"))))

# No ON CONFLICT: a resident who already applied fails the batch (UNIQUE program, resident), so nothing of it
# is written, the remembered response included; on PostgreSQL a concurrent insert for the same resident waits
# for the first transaction and then fails.
INSERT_APPLICATION = DriverStatement(lambda _dialect: insert(Application.__table__).values(_values(
    Application.__table__, "id", "program_id", "myki_hash", "provider_id", "provider_account_id", "granted_yen",
    "request_id", "created_at")))

INSERT_GRANT = DriverStatement(lambda _dialect: insert(Grant.__table__).values(_values(
    Grant.__table__, "id", "program_id", "application_id", "provider_id", "myki_hash", "source", "points", "status",
    "expires_at", "created_at")))

INSERT_LEDGER_ENTRY = DriverStatement(lambda _dialect: insert(LedgerEntry.__table__).values(_values(
    LedgerEntry.__table__, "program_id", "grant_id", "provider_id", "kind", "budget_delta", "reserved_delta",
    "posted_delta", "request_id", "created_at")))

INSERT_OUTBOX_EVENT = DriverStatement(lambda _dialect: insert(OutboxEvent.__table__).values(_values(
    OutboxEvent.__table__, "id", "provider_id", "event_type", "grant_id", "body", "status", "attempts",
    "next_attempt_at", "created_at")))

# A reservation for a batch that commits with it: the CHECK constraint below refuses it when the budget does not
# cover it, which fails the batch, so the commit queued behind it never happens (adjust_balances, for the ORM
# path, tests the budget in its WHERE clause instead and reports a miss by its row count).
BUDGET_CONSTRAINT = "ck_program_within_budget"
RESERVE = DriverStatement(lambda _dialect: (
    update(Program.__table__)
    .where(Program.id == bindparam("program_id"))
    .values(reserved_yen=Program.reserved_yen + bindparam("points", type_=BigInteger))))

CLAIM_IDEMPOTENCY_KEY = DriverStatement(lambda dialect: (
    _insert_or_nothing(dialect, IdempotencyRecord.__table__)
    .values(_values(IdempotencyRecord.__table__, "id", "request_hash", "created_at"))
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(IdempotencyRecord.__table__.c.id)))

REMEMBER_RESPONSE = DriverStatement(lambda _dialect: (
    update(IdempotencyRecord.__table__)
    .where(IdempotencyRecord.id == bindparam("id"))
    .values(response_status=bindparam("response_status"), response_body=bindparam("response_body"))))


# --- the provider's grant.credited, in driver-level SQL -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProviderSecrets:
    """What verifying a provider's webhook needs of it, as PROVIDER_SECRETS reads it."""

    webhook_secret: str | None
    previous_webhook_secret: str | None
    previous_secret_expires_at: datetime | None


PROVIDER_SECRETS = DriverStatement(lambda _dialect: (
    select(Provider.webhook_secret, Provider.previous_webhook_secret, Provider.previous_secret_expires_at)
    .where(Provider.id == bindparam("provider_id"))))


def _grant_column(name: str):
    return Grant.__table__.c[name]


def _posted_by_this_batch():
    """The grant, if POST_GRANT of this very batch moved it: its resolved_at is this batch's own moment."""
    return and_(_grant_column("id") == bindparam("grant_id", type_=String),
                _grant_column("status") == GrantStatus.posted.value,
                _grant_column("resolved_at") == bindparam("now", type_=DateTime(timezone=True)))


# Conditional all through, so that one batch does what credit_grant does: the grant moves from reserved to
# posted only once, and the ledger row and the balances follow only when this batch moved it.
POST_GRANT = DriverStatement(lambda _dialect: (
    update(Grant.__table__)
    .where(_grant_column("id") == bindparam("grant_id", type_=String),
           _grant_column("provider_id") == bindparam("provider_id", type_=String),
           _grant_column("status") == GrantStatus.reserved.value)
    .values(status=GrantStatus.posted.value, resolved_at=bindparam("now", type_=DateTime(timezone=True)))))

LEDGER_POST = DriverStatement(lambda _dialect: insert(LedgerEntry.__table__).from_select(
    ["program_id", "grant_id", "provider_id", "kind", "budget_delta", "reserved_delta", "posted_delta", "request_id",
     "created_at"],
    select(_grant_column("program_id"), _grant_column("id"), _grant_column("provider_id"),
           literal(LedgerKind.post.value, String), literal(0, BigInteger), -_grant_column("points"),
           _grant_column("points"), bindparam("request_id", type_=String),
           bindparam("created_at", type_=DateTime(timezone=True)))
    .where(_posted_by_this_batch())))

BALANCES_POST = DriverStatement(lambda _dialect: (
    update(Program.__table__)
    .where(Program.id == select(_grant_column("program_id")).where(_posted_by_this_batch()).scalar_subquery())
    .values(reserved_yen=Program.reserved_yen - select(_grant_column("points")).where(_posted_by_this_batch())
            .scalar_subquery(),
            posted_yen=Program.posted_yen + select(_grant_column("points")).where(_posted_by_this_batch())
            .scalar_subquery())))

# The inbound record, with the outcome credit_grant would give; a repeated webhook-id fails the batch (primary key).
RECORD_CREDIT = DriverStatement(lambda _dialect: insert(InboundWebhook.__table__).from_select(
    ["provider_id", "webhook_id", "event_type", "outcome", "received_at"],
    select(bindparam("provider_id", type_=String), bindparam("webhook_id", type_=String),
           literal("grant.credited", String),
           case((select(_grant_column("id")).where(_posted_by_this_batch()).exists(), literal("posted", String)),
                else_=func.coalesce(
                    literal("ignored: grant already ", String)
                    + select(_grant_column("status"))
                    .where(_grant_column("id") == bindparam("grant_id", type_=String),
                           _grant_column("provider_id") == bindparam("provider_id", type_=String))
                    .scalar_subquery(),
                    literal("rejected: no such grant for this provider", String))),
           bindparam("received_at", type_=DateTime(timezone=True))))
    .returning(InboundWebhook.__table__.c.outcome))


@dataclass(frozen=True, slots=True)
class ProgramTerms:
    """What an application needs of its program, as APPLICANT reads it (plain values, no ORM object)."""

    id: str
    kind: str
    points_per_person: int | None
    provider_ids: list[str]
    eligibility: dict
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class ResidentAttributes:
    """A roster entry's attributes that eligibility looks at, as APPLICANT reads them."""

    birth_date: date | None
    household_with_children: bool
    income_band: int | None
    activity_participation: bool


def applicant_from(outcome: Outcome, program_id: str) -> tuple | None:
    """What APPLICANT read: (ProgramTerms, ResidentAttributes or None when not on the roster, the earlier
    application's id or None); None when there is no such program."""
    row = outcome.row
    if row is None:
        return None
    (kind, points, provider_ids, eligibility, opens_at, closes_at, application_id, roster_hash, birth_date,
     children, income_band, activity) = row
    program = ProgramTerms(program_id, kind, points, provider_ids, eligibility, opens_at, closes_at)
    entry = None if roster_hash is None else ResidentAttributes(birth_date, children, income_band, activity)
    return program, entry, application_id


async def list_providers(session: AsyncSession, page: PageParams) -> list[Provider]:
    query = select(Provider).order_by(Provider.id).limit(page.limit + 1)
    if page.after:
        query = query.where(Provider.id > page.after)
    return list((await session.exec(query)).all())


async def adjust_balances(session: AsyncSession, program_id: str, *, budget: int = 0, reserved: int = 0,
                          posted: int = 0) -> bool:
    """Move a program's balances in one statement; an increase of commitments only if the budget still covers it.

    UPDATE program SET … WHERE id = :id [AND reserved + posted + :more <= budget + :budget] — the database
    decides under its own row lock, so concurrent reservations can never overspend.
    """
    statement = (
        update(Program)
        .where(Program.id == program_id)
        .values(budget_yen=Program.budget_yen + budget, reserved_yen=Program.reserved_yen + reserved,
                posted_yen=Program.posted_yen + posted)
        .execution_options(synchronize_session=False)
    )
    more = reserved + posted
    if more > 0:
        statement = statement.where(Program.reserved_yen + Program.posted_yen + more <= Program.budget_yen + budget)
    result = await session.exec(statement)
    return result.rowcount == 1


async def set_grant_status(session: AsyncSession, grant_id: str, from_status: GrantStatus,
                           to_status: GrantStatus, now: datetime) -> bool:
    """Resolve a grant once: only the one transaction that finds it in `from_status` moves it."""
    result = await session.exec(
        update(Grant)
        .where(Grant.id == grant_id, Grant.status == from_status)
        .values(status=to_status, resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def add_to_person_total(session: AsyncSession, application_id: str, points: int, cap: int | None,
                              seen_total: int) -> bool:
    """Compare-and-set of a resident's premium total: fails if another grant moved it since it was read."""
    statement = (
        update(Application)
        .where(Application.id == application_id, Application.granted_yen == seen_total)
        .values(granted_yen=Application.granted_yen + points)
        .execution_options(synchronize_session=False)
    )
    if cap is not None:
        statement = statement.where(Application.granted_yen + points <= cap)
    return (await session.exec(statement)).rowcount == 1


async def add_to_person_total_unchecked(session: AsyncSession, application_id: str, points: int) -> None:
    await session.exec(update(Application).where(Application.id == application_id)
                       .values(granted_yen=Application.granted_yen + points)
                       .execution_options(synchronize_session=False))


async def delete_idempotency_records_before(session: AsyncSession, moment: datetime) -> int:
    result = await session.exec(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < moment))
    return result.rowcount


async def application_for(session: AsyncSession, program_id: str, myki_hash: str) -> Application | None:
    query = select(Application).where(Application.program_id == program_id, Application.myki_hash == myki_hash)
    return (await session.exec(query)).first()


async def application_by_account(session: AsyncSession, program_id: str, provider_id: str,
                                 account_id: str) -> Application | None:
    query = select(Application).where(Application.program_id == program_id, Application.provider_id == provider_id,
                                      Application.provider_account_id == account_id)
    return (await session.exec(query)).first()


async def grant_for(session: AsyncSession, program_id: str, myki_hash: str, source: str) -> Grant | None:
    query = select(Grant).where(Grant.program_id == program_id, Grant.myki_hash == myki_hash,
                                Grant.source == source)
    return (await session.exec(query)).first()


async def roster_entry(session: AsyncSession, program_id: str, myki_hash: str) -> RosterEntry | None:
    return await session.get(RosterEntry, (program_id, myki_hash))


async def linked_applications_on_account(session: AsyncSession, provider_id: str, account_id: str,
                                         program_id: str | None) -> list[Application]:
    query = select(Application).where(Application.provider_id == provider_id,
                                      Application.provider_account_id == account_id, Application.unlinked_at.is_(None))
    if program_id is not None:
        query = query.where(Application.program_id == program_id)
    return list((await session.exec(query.order_by(Application.id))).all())


async def mark_unlinked(session: AsyncSession, application_id: str, now: datetime) -> bool:
    """Only the one transaction that finds the application linked unlinks it."""
    result = await session.exec(update(Application)
                                .where(Application.id == application_id, Application.unlinked_at.is_(None))
                                .values(unlinked_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def relink(session: AsyncSession, application_id: str, provider_id: str, account_id: str) -> bool:
    """Move an unlinked application to a new account; only the one transaction that finds it unlinked does."""
    result = await session.exec(update(Application)
                                .where(Application.id == application_id, Application.unlinked_at.is_not(None))
                                .values(provider_id=provider_id, provider_account_id=account_id, unlinked_at=None)
                                .execution_options(synchronize_session=False))
    return result.rowcount == 1


async def reserved_grant_ids(session: AsyncSession, application_id: str) -> list[str]:
    query = select(Grant.id).where(Grant.application_id == application_id, Grant.status == GrantStatus.reserved)
    return list((await session.exec(query.order_by(Grant.id))).all())


async def latest_grant(session: AsyncSession, program_id: str, myki_hash: str, source: str,
                       source_prefixes: tuple[str, ...]) -> Grant | None:
    """The newest of a resident's grants whose source is `source` or starts with one of `source_prefixes`."""
    query = (select(Grant).where(Grant.program_id == program_id, Grant.myki_hash == myki_hash,
                                 or_(Grant.source == source, *(Grant.source.startswith(p) for p in source_prefixes)))
             .order_by(Grant.created_at.desc()).limit(1))
    return (await session.exec(query)).first()


async def list_grants(session: AsyncSession, page: PageParams, *, program_id: str | None, provider_id: str | None,
                      status: str | None, municipality_code: str | None) -> list[Grant]:
    query = select(Grant).order_by(Grant.id).limit(page.limit + 1)
    if page.after:
        query = query.where(Grant.id > page.after)
    if program_id:
        query = query.where(Grant.program_id == program_id)
    if provider_id:
        query = query.where(Grant.provider_id == provider_id)
    if status:
        query = query.where(Grant.status == status)
    if municipality_code:
        query = query.join(Program, Program.id == Grant.program_id).where(
            Program.municipality_code == municipality_code)
    return list((await session.exec(query)).all())


async def expired_reservations(session: AsyncSession, now: datetime, limit: int = 100) -> list[str]:
    query = (select(Grant.id).where(Grant.status == GrantStatus.reserved, Grant.expires_at < now)
             .order_by(Grant.expires_at).limit(limit))
    return list((await session.exec(query)).all())


async def list_deliveries(session: AsyncSession, page: PageParams, status: str | None) -> list[OutboxEvent]:
    query = select(OutboxEvent).order_by(OutboxEvent.id).limit(page.limit + 1)
    if page.after:
        query = query.where(OutboxEvent.id > page.after)
    if status:
        query = query.where(OutboxEvent.status == status)
    return list((await session.exec(query)).all())


async def claim_due_events(session: AsyncSession, now: datetime, limit: int) -> list[OutboxEvent]:
    """Due events nobody holds a live lease on. FOR UPDATE SKIP LOCKED on PostgreSQL lets several workers
    claim disjoint rows; SQLite ignores it, and BEGIN IMMEDIATE makes the claiming transaction the only writer."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.status == DeliveryStatus.pending, OutboxEvent.next_attempt_at <= now,
               or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now))
        .order_by(OutboxEvent.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(query)).all())


async def cancel_grant_created(session: AsyncSession, grant_id: str, now: datetime, *, attempted: bool) -> bool:
    """Cancel a grant's pending grant.created that no worker holds a live lease on (never attempted, unless
    `attempted`). One conditional UPDATE: a worker that claims the event at the same moment either has it first,
    and this reports False, or finds it cancelled and skips it."""
    statement = (
        update(OutboxEvent)
        .where(OutboxEvent.grant_id == grant_id, OutboxEvent.event_type == "grant.created",
               OutboxEvent.status == DeliveryStatus.pending,
               or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now))
        .values(status=DeliveryStatus.cancelled, lease_token=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if not attempted:
        statement = statement.where(OutboxEvent.attempts == 0)
    return (await session.exec(statement)).rowcount == 1


async def grant_for_update(session: AsyncSession, grant_id: str) -> Grant | None:
    """The grant, locked until the transaction ends (PostgreSQL; SQLite's writers are serialized anyway), so a
    void or another redelivery of it waits for this one."""
    query = select(Grant).where(Grant.id == grant_id).with_for_update().execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def application_for_update(session: AsyncSession, application_id: str) -> Application:
    """The application, locked until the transaction ends: no unlink or re-link of it happens in between."""
    query = (select(Application).where(Application.id == application_id).with_for_update()
             .execution_options(populate_existing=True))
    return (await session.exec(query)).one()


async def grant_created_event(session: AsyncSession, grant_id: str) -> OutboxEvent | None:
    query = select(OutboxEvent).where(OutboxEvent.grant_id == grant_id, OutboxEvent.event_type == "grant.created")
    return (await session.exec(query.order_by(OutboxEvent.created_at.desc()).limit(1))).first()


async def grant_revoked_sent(session: AsyncSession, grant_id: str) -> bool:
    """Whether the provider was (or is being) told the grant is off: it was withdrawn, not just left undelivered."""
    query = select(OutboxEvent.id).where(OutboxEvent.grant_id == grant_id, OutboxEvent.event_type == "grant.revoked")
    return (await session.exec(query.limit(1))).first() is not None


async def grant_created_lease(session: AsyncSession, grant_id: str, now: datetime) -> datetime | None:
    """When a worker's live lease on the grant's grant.created ends; None when nobody is sending it."""
    query = select(OutboxEvent.lease_until).where(OutboxEvent.grant_id == grant_id,
                                                  OutboxEvent.event_type == "grant.created",
                                                  OutboxEvent.status == DeliveryStatus.pending,
                                                  OutboxEvent.lease_until >= now)
    return (await session.exec(query)).first()


async def ledger_sums(session: AsyncSession) -> dict[str, tuple[int, int, int]]:
    query = select(LedgerEntry.program_id, func.sum(LedgerEntry.budget_delta), func.sum(LedgerEntry.reserved_delta),
                   func.sum(LedgerEntry.posted_delta)).group_by(LedgerEntry.program_id)
    return {row[0]: (int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)) for row in (await session.exec(query))}


async def grant_sums(session: AsyncSession) -> dict[tuple[str, str], int]:
    query = select(Grant.program_id, Grant.status, func.sum(Grant.points)).group_by(Grant.program_id, Grant.status)
    return {(row[0], row[1]): int(row[2] or 0) for row in (await session.exec(query))}


async def settlement_rows(session: AsyncSession, start: datetime, end: datetime, municipality_code: str | None,
                          provider_id: str | None) -> list[tuple]:
    query = (
        select(Program.municipality_code, LedgerEntry.provider_id, LedgerEntry.kind,
               func.sum(LedgerEntry.posted_delta), func.count())
        .join(Program, Program.id == LedgerEntry.program_id)
        .where(LedgerEntry.kind.in_([LedgerKind.post, LedgerKind.revoke]),
               LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .group_by(Program.municipality_code, LedgerEntry.provider_id, LedgerEntry.kind)
    )
    if municipality_code:
        query = query.where(Program.municipality_code == municipality_code)
    if provider_id:
        query = query.where(LedgerEntry.provider_id == provider_id)
    return list((await session.exec(query)).all())
