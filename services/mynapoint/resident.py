""" "Where are my points?": a resident's standing in one program — on the roster or not, eligible or why not,
the application, and each grant with its state in plain words. The マイキーID comes in a body (never a URL),
is hashed at once, and is neither stored nor answered."""

from dataclasses import asdict
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.eligibility import BUDGET_EXHAUSTED, Reason, resident_reasons
from common.models import Application, Grant, Program
from common.models.mynapoint import DeliveryStatus, GrantStatus, ProgramKind, ProgramStatus
from common.timeutil import aware, utcnow
from services.mynapoint import repository
from services.mynapoint.identity import myki_hash
from services.mynapoint.tenancy import program_for

PAUSED = Reason("program_paused", "The municipality has paused this program; it takes no new applications for now.")
CLOSED = Reason("program_closed", "The municipality has closed this program; it takes no new applications.")
NOT_APPLIED = Reason("not_applied", "You are eligible and have not applied yet.")
AWAITING = Reason("awaiting_credit", "Your points are approved and waiting for the payment service to credit them.")
CREDITED = Reason("credited", "Your points were credited to your payment account.")
REVOKED = Reason("revoked", "The municipality took these points back after they were credited.")
VOID_UNDELIVERED = Reason(
    "voided_undelivered",
    "These points were cancelled: the payment service could not be reached. The municipality can send them again.",
)
VOID_UNLINKED = Reason(
    "voided_unlinked",
    "These points were cancelled because your payment account was unlinked; apply again with another account.",
)
VOID_EXPIRED = Reason("voided_expired", "These points were cancelled: the payment service did not credit them in time.")
VOID_WITHDRAWN = Reason("voided_withdrawn", "The municipality withdrew these points before they were credited.")


async def resident_status(
    session: AsyncSession, principal: Principal, program_id: str, myki_id: str, secret: bytes
) -> dict[str, Any]:
    program = await program_for(session, principal, program_id, manage=False)
    digest = myki_hash(myki_id, secret)
    entry = await repository.roster_entry(session, program.id, digest)
    application = await repository.application_for(session, program.id, digest)
    grants = await _grants(session, program.id, digest)
    refusals = _refusals(program, resident_reasons(program, entry, utcnow()), application)
    reasons = refusals or _progress(program, application, grants)
    return {
        "program_id": program.id,
        "on_roster": entry is not None,
        "eligible": not refusals,
        "reasons": [asdict(reason) for reason in reasons],
        "application": None
        if application is None
        else {
            "id": application.id,
            "provider_id": application.provider_id,
            "created_at": application.created_at,
            "unlinked_at": application.unlinked_at,
        },
        "grants": [await _grant_state(session, grant, application) for grant in grants],
    }


def _refusals(program: Program, eligibility: list[Reason], application: Application | None) -> list[Reason]:
    """Why the resident cannot receive the program's points. A pause, a closing or a spent budget refuse only
    those who have not applied: what an application started runs its course."""
    if application is not None:
        return eligibility
    return [*_status_reasons(program), *eligibility] or _budget_reasons(program)


def _progress(program: Program, application: Application | None, grants: list[Grant]) -> list[Reason]:
    if application is None:
        return [NOT_APPLIED]
    if not grants and program.kind == ProgramKind.premium:
        return [Reason("no_charge_yet", "You have applied; points come with your charges or purchases.")]
    return []


def _status_reasons(program: Program) -> list[Reason]:
    return {ProgramStatus.paused: [PAUSED], ProgramStatus.closed: [CLOSED]}.get(ProgramStatus(program.status), [])


def _budget_reasons(program: Program) -> list[Reason]:
    points = program.points_per_person if program.kind == ProgramKind.fixed else 1
    left = program.budget_yen - program.reserved_yen - program.posted_yen
    return [BUDGET_EXHAUSTED] if points and left < points else []


async def _grants(session: AsyncSession, program_id: str, digest: str) -> list[Grant]:
    query = select(Grant).where(col(Grant.program_id) == program_id, col(Grant.myki_hash) == digest)
    return list((await session.exec(query.order_by(col(Grant.created_at), col(Grant.id)))).all())


async def _grant_state(session: AsyncSession, grant: Grant, application: Application | None) -> dict[str, Any]:
    return {
        "id": grant.id,
        "points": grant.points,
        "status": str(grant.status),
        "created_at": grant.created_at,
        "expires_at": grant.expires_at,
        "resolved_at": grant.resolved_at,
        "reason": asdict(await _grant_reason(session, grant, application)),
    }


async def _grant_reason(session: AsyncSession, grant: Grant, application: Application | None) -> Reason:
    if grant.status == GrantStatus.reserved:
        return AWAITING
    if grant.status == GrantStatus.posted:
        return CREDITED
    if grant.status == GrantStatus.revoked:
        return REVOKED
    return await _void_reason(session, grant, application)


async def _void_reason(session: AsyncSession, grant: Grant, application: Application | None) -> Reason:
    resolved = aware(grant.resolved_at) if grant.resolved_at else None
    created = await repository.grant_created_event(session, grant.id)
    # A grant.created fails only while its grant is reserved, and the failure voids it (a void for any other
    # reason cancels the event instead): failed means voided undelivered.
    if created is not None and created.status == DeliveryStatus.failed:
        return VOID_UNDELIVERED
    if application is not None and application.unlinked_at and resolved and resolved >= aware(application.unlinked_at):
        return VOID_UNLINKED
    if resolved and resolved >= aware(grant.expires_at):
        return VOID_EXPIRED
    return VOID_WITHDRAWN
