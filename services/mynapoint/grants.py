"""Grants: the one family that writes a grant, and the transitions that resolve it (post, void, revoke).

A grant is written with its reservation's ledger row and its grant.created event (`grant_rows`), either in an
application's committing batch (services/mynapoint/applications.py) or, by `reserve_grant`, in the request's
transaction (a re-link, a redelivery, a charge); the money side of every transition is services/mynapoint/ledger.py.
"""

from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.driver_sql import Batch, DriverConnection
from common.error_codes import ErrorCode
from common.errors import Unprocessable
from common.ids import new_id
from common.models import Application, Grant, Program
from common.models.mynapoint import GrantStatus, ProgramKind
from common.pagination import PageParams
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import deliveries, ledger, repository
from services.mynapoint.outcomes import NOT_POSTED, WebhookOutcome
from services.mynapoint.statements import INSERT_GRANT
from services.mynapoint.tenancy import program_for, provider_filter

FIXED_SOURCE = "application"
CHARGE_SOURCE = "charge:"  # + the provider's charge id: a premium grant
RELINK_SOURCE = "relink:"  # + the voided fixed grant it replaces, after the resident re-linked an account
REDELIVER_SOURCE = "redeliver:"  # + the voided grant it replaces, after ops redelivered its failed grant.created
REPLACEMENT_SOURCES = (RELINK_SOURCE, REDELIVER_SOURCE)


# --- writing a grant -------------------------------------------------------------------------------------


def new_grant(
    program_id: str, application: dict[str, Any], source: str, points: int, settings: Settings
) -> dict[str, Any]:
    """A reserved grant's row for `application` (its id, provider_id and myki_hash)."""
    now = utcnow()
    return {
        "id": new_id("gr"),
        "program_id": program_id,
        "application_id": application["id"],
        "provider_id": application["provider_id"],
        "myki_hash": application["myki_hash"],
        "source": source,
        "points": points,
        "status": GrantStatus.reserved.value,
        "expires_at": now + timedelta(hours=settings.grant_reservation_hours),
        "created_at": now,
    }


def grant_rows(grant: dict[str, Any], provider_account_id: str) -> Batch:
    """The grant, its reservation's ledger row and its grant.created webhook; the reservation's balance change
    (ledger.reservation_balance) is the caller's, last in its batch."""
    return [
        (INSERT_GRANT, grant),
        ledger.reservation_entry(grant),
        deliveries.grant_created(grant, provider_account_id),
    ]


async def reserve_grant(
    session: AsyncSession, program_id: str, application: Application, source: str, points: int, settings: Settings
) -> dict[str, Any]:
    """A grant and its reservation in the request's transaction; ledger.BudgetExhausted when the budget does
    not cover it, after which the transaction (or the savepoint around this) must be undone."""
    holder = {"id": application.id, "provider_id": application.provider_id, "myki_hash": application.myki_hash}
    grant = new_grant(program_id, holder, source, points, settings)
    await ledger.reserve(DriverConnection(session), grant_rows(grant, application.provider_account_id), grant)
    return grant


async def latest_fixed_grant(session: AsyncSession, program_id: str, myki_hash: str) -> Grant | None:
    """A fixed program's newest grant for the resident: the application's, or the one that replaced it last."""
    return await repository.latest_grant(session, program_id, myki_hash, FIXED_SOURCE, REPLACEMENT_SOURCES)


def grant_brief(grant: Grant | None) -> dict[str, Any] | None:
    return None if grant is None else {"id": grant.id, "points": grant.points, "status": str(grant.status)}


# --- resolving a grant -----------------------------------------------------------------------------------


async def credit(session: AsyncSession, provider_id: str, grant_id: str) -> WebhookOutcome:
    """grant.credited in the request's transaction: ledger.POST, as the inbound batch runs it."""
    if await ledger.move_grant(DriverConnection(session), ledger.POST, grant_id, provider_id=provider_id):
        return WebhookOutcome.POSTED
    status = await repository.grant_status(session, grant_id, provider_id)
    return WebhookOutcome.NO_SUCH_GRANT if status is None else NOT_POSTED[GrantStatus(status)]


async def void_grant(session: AsyncSession, grant_id: str) -> bool:
    """Free a reservation (expiry, unlinked account, a grant.created that finally failed after a request that may
    have landed) and withdraw it from the provider; false if already resolved."""
    grant = await _void(session, grant_id)
    if grant is not None:
        await deliveries.withdraw_from_provider(session, grant)
    return grant is not None


async def void_undelivered_grant(session: AsyncSession, grant_id: str) -> bool:
    """Free a reservation whose grant.created finally failed without any request leaving for the provider (no
    connection, a refused address): it never got the grant, so nothing is sent."""
    return await _void(session, grant_id) is not None


async def _void(session: AsyncSession, grant_id: str) -> Grant | None:
    """The voided grant (its status as loaded: what follows needs only the fields a grant never changes)."""
    grant = await session.get(Grant, grant_id)
    if grant is None or not await ledger.move_grant(DriverConnection(session), ledger.VOID, grant_id):
        return None
    await _give_back_to_cap(session, grant)
    return grant


async def revoke_grant(session: AsyncSession, principal: Principal, grant_id: str) -> Grant:
    """Take a grant back: a reservation is voided (and withdrawn), a credited grant revoked (a compensating
    entry, and the provider is told)."""
    grant = await get_or_404(session, Grant, grant_id, field="grant_id")
    await program_for(session, principal, grant.program_id, manage=True)
    if await void_grant(session, grant_id):
        return await _fresh(session, grant_id)
    if not await ledger.move_grant(DriverConnection(session), ledger.REVOKE, grant_id):
        raise Unprocessable(
            f"grant {grant_id} is already {(await _fresh(session, grant_id)).status}",
            code=ErrorCode.GRANT_RESOLVED,
            field="grant_id",
        )
    grant = await _fresh(session, grant_id)
    await _give_back_to_cap(session, grant)
    await deliveries.tell_revoked(session, grant)
    return grant


async def void_expired_reservations(session: AsyncSession) -> int:
    return sum(
        [await void_grant(session, grant_id) for grant_id in await repository.expired_reservations(session, utcnow())]
    )


async def _fresh(session: AsyncSession, grant_id: str) -> Grant:
    """The grant as the transaction has it now (the driver-level statements bypass the ORM's identity map)."""
    grant = await get_or_404(session, Grant, grant_id, field="grant_id")
    await session.refresh(grant)
    return grant


# --- the premium cap -------------------------------------------------------------------------------------


async def _give_back_to_cap(session: AsyncSession, grant: Grant) -> None:
    """A premium grant that is voided or revoked stops counting against the resident's per-person cap.

    Known by its program, not its source: a premium grant redelivered after a failure has a `redeliver:` source."""
    program = await get_or_404(session, Program, grant.program_id, field="program_id")
    if program.kind == ProgramKind.premium:
        await repository.add_to_person_total_unchecked(session, grant.application_id, -grant.points)


async def claim_within_cap(
    session: AsyncSession, program: Program, application: Application, points: int, *, whole: bool = False
) -> int:
    """Add up to `points` (all of them or none when `whole`) to the resident's premium total, within the cap."""
    for _ in range(5):
        await session.refresh(application)
        room = points if program.per_person_cap is None else program.per_person_cap - application.granted_yen
        grantable = max(0, min(points, room))
        if grantable == 0 or (whole and grantable < points):
            return 0
        if await repository.add_to_person_total(
            session, application.id, grantable, program.per_person_cap, application.granted_yen
        ):
            return grantable
    raise Unprocessable("the resident's total is changing too fast; retry", code=ErrorCode.BUSY)


# --- reading ---------------------------------------------------------------------------------------------


async def list_grants(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    program_id: str | None,
    provider_id: str | None,
    status: GrantStatus | None,
) -> list[Grant]:
    """A municipality key sees its own municipality's grants, a provider key its own provider's."""
    municipality = principal.municipality_code if principal.role == "municipality" else None
    provider_id = provider_filter(principal, provider_id, field="provider", noun="grants")
    return await repository.list_grants(
        session, page, program_id=program_id, provider_id=provider_id, status=status, municipality_code=municipality
    )
