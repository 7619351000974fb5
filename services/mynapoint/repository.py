"""ORM queries of the point-issuance service; its money writes are driver-level SQL (statements.py, ledger.py).
Every change here is one conditional UPDATE, never read-then-write."""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, or_, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Application, Grant, IdempotencyRecord, LedgerEntry, OutboxEvent, Program, Provider, RosterEntry
from common.models.mynapoint import DeliveryStatus, GrantStatus, LedgerKind
from common.pagination import PageParams, keyset


class Balances(NamedTuple):
    budget_yen: int
    reserved_yen: int
    posted_yen: int


class SettlementRow(NamedTuple):
    municipality_code: str
    provider_id: str
    kind: str
    posted_yen: int
    count: int


async def list_providers(session: AsyncSession, page: PageParams) -> list[Provider]:
    return list((await session.exec(keyset(select(Provider), Provider.id, page))).all())


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
    query = keyset(select(Grant), Grant.id, page)
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
    query = keyset(select(OutboxEvent), OutboxEvent.id, page)
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


async def ledger_sums(session: AsyncSession) -> dict[str, Balances]:
    query = select(LedgerEntry.program_id, func.sum(LedgerEntry.budget_delta), func.sum(LedgerEntry.reserved_delta),
                   func.sum(LedgerEntry.posted_delta)).group_by(LedgerEntry.program_id)
    return {program_id: Balances(int(budget or 0), int(reserved or 0), int(posted or 0))
            for program_id, budget, reserved, posted in (await session.exec(query))}


async def grant_sums(session: AsyncSession) -> dict[tuple[str, str], int]:
    query = select(Grant.program_id, Grant.status, func.sum(Grant.points)).group_by(Grant.program_id, Grant.status)
    return {(program_id, status): int(points or 0) for program_id, status, points in (await session.exec(query))}


async def grant_status(session: AsyncSession, grant_id: str, provider_id: str) -> str | None:
    """The grant's status as this provider may see it; None when it is no grant of the provider's."""
    query = select(Grant.status).where(Grant.id == grant_id, Grant.provider_id == provider_id)
    return (await session.exec(query)).first()


async def settlement_rows(session: AsyncSession, start: datetime, end: datetime, municipality_code: str | None,
                          provider_id: str | None) -> list[SettlementRow]:
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
    return [SettlementRow(code, provider, kind, int(posted or 0), int(count))
            for code, provider, kind, posted, count in (await session.exec(query)).all()]
