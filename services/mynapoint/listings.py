"""The collections an officer, an app or ops read: programs, a program's applications, roster and change log,
deliveries and their attempts. Each is one keyset page (common.pagination) with its filters; tenancy is the
caller's (services/mynapoint/tenancy.py)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.errors import Forbidden, NotFound
from common.models import Application, DeliveryAttempt, OutboxEvent, Program, ProgramChange, RosterEntry
from common.models.mynapoint import DeliveryStatus, ProgramStatus
from common.pagination import PageParams, keyset
from common.timeutil import JST
from services.mynapoint.schemas import ApplicationStatus
from services.mynapoint.tenancy import program_for


@dataclass(frozen=True)
class Window:
    """created_from (inclusive) and created_to (exclusive), either open."""

    start: datetime | None = None
    end: datetime | None = None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A JST calendar day as the instants it starts and ends."""
    start = datetime.combine(day, time(), tzinfo=JST)
    return start, start + timedelta(days=1)


async def list_programs(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    municipality_code: str | None,
    status: ProgramStatus | None,
    open_on: date | None,
) -> list[Program]:
    """A municipality key lists its own municipality's programs; ops and apps any."""
    if principal.role == "municipality":
        if municipality_code not in (None, principal.municipality_code):
            raise Forbidden("a municipality key lists only its own municipality's programs", field="municipality_code")
        municipality_code = principal.municipality_code
    query = keyset(select(Program), col(Program.id), page)
    if municipality_code:
        query = query.where(col(Program.municipality_code) == municipality_code)
    if status:
        query = query.where(col(Program.status) == status)
    if open_on:
        start, end = day_bounds(open_on)
        query = query.where(col(Program.opens_at) < end, col(Program.closes_at) > start)
    return list((await session.exec(query)).all())


async def list_applications(
    session: AsyncSession,
    principal: Principal,
    program_id: str,
    page: PageParams,
    *,
    status: ApplicationStatus | None,
    provider_id: str | None,
    created: Window,
) -> list[Application]:
    program = await program_for(session, principal, program_id, manage=True)
    query = keyset(select(Application), col(Application.id), page).where(col(Application.program_id) == program.id)
    if status == ApplicationStatus.active:
        query = query.where(col(Application.unlinked_at).is_(None))
    elif status == ApplicationStatus.unlinked:
        query = query.where(col(Application.unlinked_at).is_not(None))
    if provider_id:
        query = query.where(col(Application.provider_id) == provider_id)
    if created.start:
        query = query.where(col(Application.created_at) >= created.start)
    if created.end:
        query = query.where(col(Application.created_at) < created.end)
    return list((await session.exec(query)).all())


async def get_application(
    session: AsyncSession, principal: Principal, program_id: str, application_id: str
) -> Application:
    program = await program_for(session, principal, program_id, manage=True)
    application = await get_or_404(session, Application, application_id, field="application_id")
    if application.program_id != program.id:
        raise NotFound(f"no application {application_id}", field="application_id")
    return application


async def list_roster(
    session: AsyncSession, principal: Principal, program_id: str, page: PageParams
) -> list[RosterEntry]:
    program = await program_for(session, principal, program_id, manage=True)
    query = keyset(select(RosterEntry), col(RosterEntry.entry_id), page)
    return list((await session.exec(query.where(col(RosterEntry.program_id) == program.id))).all())


async def list_changes(
    session: AsyncSession, principal: Principal, program_id: str, page: PageParams
) -> list[ProgramChange]:
    program = await program_for(session, principal, program_id, manage=True)
    query = keyset(select(ProgramChange), col(ProgramChange.id), page)
    return list((await session.exec(query.where(col(ProgramChange.program_id) == program.id))).all())


@dataclass(frozen=True)
class DeliveryFilters:
    status: DeliveryStatus | None = None
    provider_id: str | None = None
    program_id: str | None = None
    event_type: str | None = None
    created: Window = Window()


async def list_deliveries(session: AsyncSession, page: PageParams, filters: DeliveryFilters) -> list[OutboxEvent]:
    query = keyset(select(OutboxEvent), col(OutboxEvent.id), page)
    if filters.status:
        query = query.where(col(OutboxEvent.status) == filters.status)
    if filters.provider_id:
        query = query.where(col(OutboxEvent.provider_id) == filters.provider_id)
    if filters.event_type:
        query = query.where(col(OutboxEvent.event_type) == filters.event_type)
    if filters.program_id:
        # Every program-bound event names its program in its body; grant.* events are found by their grant too.
        query = query.where(col(OutboxEvent.body).contains(f'"program_id":"{filters.program_id}"', autoescape=True))
    if filters.created.start:
        query = query.where(col(OutboxEvent.created_at) >= filters.created.start)
    if filters.created.end:
        query = query.where(col(OutboxEvent.created_at) < filters.created.end)
    return list((await session.exec(query)).all())


async def delivery_attempts(session: AsyncSession, event_id: str) -> list[DeliveryAttempt]:
    query = select(DeliveryAttempt).where(col(DeliveryAttempt.event_id) == event_id).order_by(col(DeliveryAttempt.id))
    return list((await session.exec(query)).all())
