"""ORM queries of the point-issuance service; its money writes are driver-level SQL (statements.py, ledger.py).
Every change here is one conditional UPDATE, never read-then-write."""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, delete, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import (
    Application,
    DeliveryAttempt,
    Grant,
    IdempotencyRecord,
    LedgerEntry,
    OutboxEvent,
    Program,
    Provider,
    RosterEntry,
)
from common.models.mynapoint import DeliveryStatus, GrantStatus, LedgerKind
from common.pagination import PageParams, keyset
from services.mynapoint.statements import GRANT, LEDGER, OUTBOX, PROGRAM, PROVIDER


class Balances(NamedTuple):
    budget_yen: int
    reserved_yen: int
    posted_yen: int


class SettlementRow(NamedTuple):
    municipality_code: str
    provider_id: str
    kind: str
    posted_yen: int
    entries: int


async def list_providers(session: AsyncSession, page: PageParams) -> list[Provider]:
    return list((await session.exec(keyset(select(Provider), PROVIDER.c.id, page))).all())


async def add_to_person_total(
    session: AsyncSession, application_id: str, points: int, cap: int | None, seen_total: int
) -> bool:
    """Compare-and-set of a resident's premium total: fails if another grant moved it since it was read."""
    statement = (
        update(Application)
        .where(col(Application.id) == application_id, col(Application.granted_yen) == seen_total)
        .values(granted_yen=col(Application.granted_yen) + points)
        .execution_options(synchronize_session=False)
    )
    if cap is not None:
        statement = statement.where(col(Application.granted_yen) + points <= cap)
    return (await session.exec(statement)).rowcount == 1


async def add_to_person_total_unchecked(session: AsyncSession, application_id: str, points: int) -> None:
    await session.exec(
        update(Application)
        .where(col(Application.id) == application_id)
        .values(granted_yen=col(Application.granted_yen) + points)
        .execution_options(synchronize_session=False)
    )


async def delete_idempotency_records_before(session: AsyncSession, moment: datetime) -> int:
    result = await session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < moment))
    return result.rowcount


async def application_for(session: AsyncSession, program_id: str, myki_hash: str) -> Application | None:
    query = select(Application).where(
        col(Application.program_id) == program_id, col(Application.myki_hash) == myki_hash
    )
    return (await session.exec(query)).first()


async def application_by_account(
    session: AsyncSession, program_id: str, provider_id: str, account_id: str
) -> Application | None:
    query = select(Application).where(
        col(Application.program_id) == program_id,
        col(Application.provider_id) == provider_id,
        col(Application.provider_account_id) == account_id,
    )
    return (await session.exec(query)).first()


async def grant_for(session: AsyncSession, program_id: str, myki_hash: str, source: str) -> Grant | None:
    query = select(Grant).where(
        col(Grant.program_id) == program_id, col(Grant.myki_hash) == myki_hash, col(Grant.source) == source
    )
    return (await session.exec(query)).first()


async def roster_entry(session: AsyncSession, program_id: str, myki_hash: str) -> RosterEntry | None:
    return await session.get(RosterEntry, (program_id, myki_hash))


async def linked_applications_on_account(
    session: AsyncSession, provider_id: str, account_id: str, program_id: str | None
) -> list[Application]:
    query = select(Application).where(
        col(Application.provider_id) == provider_id,
        col(Application.provider_account_id) == account_id,
        col(Application.unlinked_at).is_(None),
    )
    if program_id is not None:
        query = query.where(col(Application.program_id) == program_id)
    return list((await session.exec(query.order_by(col(Application.id)))).all())


async def mark_unlinked(session: AsyncSession, application_id: str, now: datetime) -> bool:
    """Only the one transaction that finds the application linked unlinks it."""
    result = await session.exec(
        update(Application)
        .where(col(Application.id) == application_id, col(Application.unlinked_at).is_(None))
        .values(unlinked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def relink(session: AsyncSession, application_id: str, provider_id: str, account_id: str) -> bool:
    """Move an unlinked application to a new account; only the one transaction that finds it unlinked does."""
    result = await session.exec(
        update(Application)
        .where(col(Application.id) == application_id, col(Application.unlinked_at).is_not(None))
        .values(provider_id=provider_id, provider_account_id=account_id, unlinked_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def reserved_grant_ids(session: AsyncSession, application_id: str) -> list[str]:
    query = select(col(Grant.id)).where(
        col(Grant.application_id) == application_id, col(Grant.status) == GrantStatus.reserved
    )
    return list((await session.exec(query.order_by(col(Grant.id)))).all())


async def latest_grant(
    session: AsyncSession, program_id: str, myki_hash: str, source: str, source_prefixes: tuple[str, ...]
) -> Grant | None:
    """The newest of a resident's grants whose source is `source` or starts with one of `source_prefixes`."""
    query = (
        select(Grant)
        .where(
            col(Grant.program_id) == program_id,
            col(Grant.myki_hash) == myki_hash,
            or_(col(Grant.source) == source, *(col(Grant.source).startswith(p) for p in source_prefixes)),
        )
        .order_by(col(Grant.created_at).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def list_grants(
    session: AsyncSession,
    page: PageParams,
    *,
    program_id: str | None,
    provider_id: str | None,
    status: str | None,
    municipality_code: str | None,
) -> list[Grant]:
    query = keyset(select(Grant), GRANT.c.id, page)
    if program_id:
        query = query.where(col(Grant.program_id) == program_id)
    if provider_id:
        query = query.where(col(Grant.provider_id) == provider_id)
    if status:
        query = query.where(col(Grant.status) == status)
    if municipality_code:
        query = query.join(Program, col(Program.id) == col(Grant.program_id)).where(
            col(Program.municipality_code) == municipality_code
        )
    return list((await session.exec(query)).all())


async def expired_reservations(session: AsyncSession, now: datetime, limit: int = 100) -> list[str]:
    query = (
        select(col(Grant.id))
        .where(col(Grant.status) == GrantStatus.reserved, col(Grant.expires_at) < now)
        .order_by(col(Grant.expires_at))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def list_deliveries(session: AsyncSession, page: PageParams, status: str | None) -> list[OutboxEvent]:
    query = keyset(select(OutboxEvent), OUTBOX.c.id, page)
    if status:
        query = query.where(col(OutboxEvent.status) == status)
    return list((await session.exec(query)).all())


async def claim_due_events(session: AsyncSession, now: datetime, limit: int) -> list[OutboxEvent]:
    """Due events nobody holds a live lease on. FOR UPDATE SKIP LOCKED on PostgreSQL lets several workers
    claim disjoint rows; SQLite ignores it, and BEGIN IMMEDIATE makes the claiming transaction the only writer."""
    query = (
        select(OutboxEvent)
        .where(
            col(OutboxEvent.status) == DeliveryStatus.pending,
            col(OutboxEvent.next_attempt_at) <= now,
            or_(col(OutboxEvent.lease_until).is_(None), col(OutboxEvent.lease_until) < now),
        )
        .order_by(col(OutboxEvent.next_attempt_at))
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
        .where(
            col(OutboxEvent.grant_id) == grant_id,
            col(OutboxEvent.event_type) == "grant.created",
            col(OutboxEvent.status) == DeliveryStatus.pending,
            or_(col(OutboxEvent.lease_until).is_(None), col(OutboxEvent.lease_until) < now),
        )
        .values(status=DeliveryStatus.cancelled, lease_token=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if not attempted:  # never sent: a redelivered event starts again from attempt 0 but was sent before
        statement = statement.where(
            col(OutboxEvent.attempts) == 0,
            col(OutboxEvent.delivered_at).is_(None),
            col(OutboxEvent.last_error).is_(None),
        )
    return (await session.exec(statement)).rowcount == 1


async def grant_for_update(session: AsyncSession, grant_id: str) -> Grant | None:
    """The grant, locked until the transaction ends (PostgreSQL; SQLite's writers are serialized anyway), so a
    void or another redelivery of it waits for this one."""
    query = select(Grant).where(col(Grant.id) == grant_id).with_for_update().execution_options(populate_existing=True)
    return (await session.exec(query)).first()


async def application_for_update(session: AsyncSession, application_id: str) -> Application:
    """The application, locked until the transaction ends: no unlink or re-link of it happens in between."""
    query = (
        select(Application)
        .where(col(Application.id) == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).one()


async def grant_created_event(session: AsyncSession, grant_id: str) -> OutboxEvent | None:
    query = select(OutboxEvent).where(
        col(OutboxEvent.grant_id) == grant_id, col(OutboxEvent.event_type) == "grant.created"
    )
    return (await session.exec(query.order_by(col(OutboxEvent.created_at).desc()).limit(1))).first()


async def delivery_may_have_landed(session: AsyncSession, event_id: str, attempts_started: int) -> bool:
    """Whether any attempt of the event may have reached its endpoint: one whose request left, or one started
    by a worker that died before recording it (fewer attempt rows than attempts counted)."""
    query = select(func.count(), func.count(case((col(DeliveryAttempt.request_sent), 1)))).where(
        col(DeliveryAttempt.event_id) == event_id
    )
    recorded, sent = (await session.exec(query)).one()
    return sent > 0 or recorded < attempts_started


async def grant_created_lease(session: AsyncSession, grant_id: str, now: datetime) -> datetime | None:
    """When a worker's live lease on the grant's grant.created ends; None when nobody is sending it."""
    query = select(col(OutboxEvent.lease_until)).where(
        col(OutboxEvent.grant_id) == grant_id,
        col(OutboxEvent.event_type) == "grant.created",
        col(OutboxEvent.status) == DeliveryStatus.pending,
        col(OutboxEvent.lease_until) >= now,
    )
    return (await session.exec(query)).first()


async def ledger_sums(session: AsyncSession) -> dict[str, Balances]:
    query = select(
        col(LedgerEntry.program_id),
        func.sum(col(LedgerEntry.budget_delta)),
        func.sum(col(LedgerEntry.reserved_delta)),
        func.sum(col(LedgerEntry.posted_delta)),
    ).group_by(col(LedgerEntry.program_id))
    return {
        program_id: Balances(int(budget or 0), int(reserved or 0), int(posted or 0))
        for program_id, budget, reserved, posted in (await session.exec(query))
    }


async def grant_sums(session: AsyncSession) -> dict[tuple[str, str], int]:
    query = select(col(Grant.program_id), col(Grant.status), func.sum(col(Grant.points))).group_by(
        col(Grant.program_id), col(Grant.status)
    )
    return {(program_id, status): int(points or 0) for program_id, status, points in (await session.exec(query))}


async def grant_status(session: AsyncSession, grant_id: str, provider_id: str) -> str | None:
    """The grant's status as this provider may see it; None when it is no grant of the provider's."""
    query = select(col(Grant.status)).where(col(Grant.id) == grant_id, col(Grant.provider_id) == provider_id)
    return (await session.exec(query)).first()


async def settlement_rows(
    session: AsyncSession, start: datetime, end: datetime, municipality_code: str | None, provider_id: str | None
) -> list[SettlementRow]:
    """Posted yen and entries per municipality × provider × kind (post, revoke) in [start, end)."""
    query = (
        core_select(
            PROGRAM.c.municipality_code,
            LEDGER.c.provider_id,
            LEDGER.c.kind,
            func.sum(LEDGER.c.posted_delta),
            func.count(),
        )
        .join(PROGRAM, PROGRAM.c.id == LEDGER.c.program_id)
        .where(
            LEDGER.c.kind.in_([LedgerKind.post.value, LedgerKind.revoke.value]),
            LEDGER.c.created_at >= start,
            LEDGER.c.created_at < end,
        )
        .group_by(PROGRAM.c.municipality_code, LEDGER.c.provider_id, LEDGER.c.kind)
    )
    if municipality_code:
        query = query.where(PROGRAM.c.municipality_code == municipality_code)
    if provider_id:
        query = query.where(LEDGER.c.provider_id == provider_id)
    return [
        SettlementRow(code, provider, kind, int(posted or 0), int(count))
        for code, provider, kind, posted, count in (await (await session.connection()).execute(query)).all()
    ]
