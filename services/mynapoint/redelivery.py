"""Ops send a failed (or delivered) outbound webhook again: `POST /mynapoint/deliveries/{id}/redeliver`."""

from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import get_or_404
from common.driver_sql import DriverConnection
from common.eligibility import window_reasons
from common.error_codes import ErrorCode
from common.errors import Conflict, Unprocessable
from common.models import Application, Grant, OutboxEvent, Program, Provider
from common.models.mynapoint import DeliveryStatus, GrantStatus, ProgramKind
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import grants, ledger, repository


async def redeliver(session: AsyncSession, event_id: str, settings: Settings) -> OutboxEvent:
    """The event that will be sent.

    A grant.created is sent again only while its grant is reserved. Its grant voided, sending it would offer the
    provider points nobody pays for (the provider's grant.credited is then ignored, and settlement never counts
    them), so the grant is reserved again as a new grant and that grant's own grant.created is sent instead. A
    posted or revoked grant has nothing left to deliver. Any other event is sent again as it is.
    """
    event = await get_or_404(session, OutboxEvent, event_id, field="event_id", noun="delivery")
    if event.status == DeliveryStatus.cancelled:
        # Cancelled because its grant was voided: sending it now would offer the provider points nobody pays for.
        raise Unprocessable(
            f"delivery {event_id} was cancelled and is never sent", code=ErrorCode.DELIVERY_CANCELLED, field="event_id"
        )
    if (await get_or_404(session, Provider, event.provider_id, field="event_id")).webhook_disabled_at is not None:
        # It would fail at once, and a failed grant.created voids the grant reserved again for it.
        raise Unprocessable(
            f"provider {event.provider_id}'s endpoint was disabled by a 410; enable it first "
            f"(POST /mynapoint/providers/{event.provider_id}/enable-webhooks)",
            code=ErrorCode.ENDPOINT_DISABLED,
            field="event_id",
        )
    # Locked: a void committing meanwhile waits, then finds the event pending and cancels it (or tells revoked).
    grant = (
        await repository.grant_for_update(session, event.grant_id)
        if event.event_type == "grant.created" and event.grant_id
        else None
    )
    if grant is None or grant.status == GrantStatus.reserved:
        return await _requeue(session, event)
    if grant.status != GrantStatus.voided:
        raise Unprocessable(
            f"grant {grant.id} is already {grant.status}: nothing to deliver",
            code=ErrorCode.GRANT_RESOLVED,
            field="event_id",
        )
    return await _replace_undelivered_grant(session, event, grant, settings)


async def _requeue(session: AsyncSession, event: OutboxEvent) -> OutboxEvent:
    event.status, event.attempts, event.next_attempt_at = DeliveryStatus.pending, 0, utcnow()
    event.lease_until = event.lease_token = None
    session.add(event)
    await session.flush()
    return event


async def _replace_undelivered_grant(
    session: AsyncSession, event: OutboxEvent, voided: Grant, settings: Settings
) -> OutboxEvent:
    """Reserve a grant voided by its own failed grant.created again, as a new grant with source
    `redeliver:<voided grant id>`; the new grant's grant.created (pending), while the old event stays failed.

    As with relink, the UNIQUE (program, resident, source) lets each voided grant be replaced once, and only the
    resident's newest fixed grant is replaced, so a resident never holds two live grants where one is allowed.
    Unlike relink, this is not applying again: the resident was found eligible and the grant approved, and only
    its delivery failed, so the roster is not checked again, but the window is (no grant is reserved after the
    program closed). A grant withdrawn on purpose (grant.revoked sent: revoked, expired, unlinked) is not
    replaced, nor one whose resident unlinked the account since (re-linking replaces it). The points are the
    voided grant's, all or none: within the budget and, for a premium grant, within the per-person cap. Any
    refusal raises, and the request's transaction is rolled back whole (by the session dependency).
    """
    program = await get_or_404(session, Program, voided.program_id, field="event_id")
    application = await repository.application_for_update(session, voided.application_id)
    source = f"{grants.REDELIVER_SOURCE}{voided.id}"
    await _check_replaceable(session, event, voided, program, application, source)
    if program.kind == ProgramKind.premium and not await grants.claim_within_cap(
        session, program, application, voided.points, whole=True
    ):
        raise Unprocessable(
            f"the resident's per-person cap of {program.per_person_cap} points no longer has room "
            f"for the {voided.points} points of grant {voided.id}",
            code=ErrorCode.PER_PERSON_CAP_REACHED,
            field="event_id",
        )
    refused_by_constraint = DriverConnection(session).integrity_error
    try:
        grant = await grants.reserve_grant(session, program.id, application, source, voided.points, settings)
    except ledger.BudgetExhausted:
        raise Unprocessable(
            f"the program's budget no longer covers the {voided.points} points of grant {voided.id}",
            code=ErrorCode.BUDGET_EXHAUSTED,
            field="event_id",
        ) from None
    except refused_by_constraint:  # the UNIQUE source: a concurrent redelivery replaced it first
        raise _already_replaced(event, voided) from None
    created = await repository.grant_created_event(session, grant["id"])
    if created is None:
        raise LookupError(f"grant {grant['id']} was written without its grant.created")
    return created


async def _check_replaceable(
    session: AsyncSession, event: OutboxEvent, voided: Grant, program: Program, application: Application, source: str
) -> None:
    replacement = await repository.grant_for(session, program.id, voided.myki_hash, source)
    if replacement is not None:
        raise _already_replaced(event, voided, replacement)
    if event.status != DeliveryStatus.failed:  # voided for another reason, and withdrawn
        raise Unprocessable(
            f"grant {voided.id} was voided and withdrawn from the provider: nothing to deliver",
            code=ErrorCode.GRANT_RESOLVED,
            field="event_id",
        )
    if application.unlinked_at is not None:
        raise Unprocessable(
            "the resident's payment account was unlinked; the grant is reserved again when the "
            "resident applies with another account",
            code=ErrorCode.ACCOUNT_UNLINKED,
            field="event_id",
        )
    if window_reasons(program, utcnow()):
        raise Unprocessable(
            f"program {program.id} is outside its application window: no grant is reserved again",
            code=ErrorCode.OUTSIDE_WINDOW,
            field="event_id",
        )
    if program.kind == ProgramKind.fixed:
        newest = await grants.latest_fixed_grant(session, program.id, voided.myki_hash)
        if newest is not None and newest.id != voided.id:
            raise Unprocessable(
                f"grant {voided.id} was already replaced by {newest.id}",
                code=ErrorCode.GRANT_SUPERSEDED,
                field="event_id",
            )


def _already_replaced(event: OutboxEvent, voided: Grant, replacement: Grant | None = None) -> Conflict:
    by = f" by grant {replacement.id}" if replacement else ""
    return Conflict(
        f"delivery {event.id} was already redelivered: grant {voided.id} was reserved again{by}; "
        "redeliver that grant's grant.created instead",
        code=ErrorCode.ALREADY_REDELIVERED,
        field="event_id",
    )
