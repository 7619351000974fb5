"""Inbound Standard Webhooks from providers: verified on the raw bytes, recorded once per webhook-id in the
same transaction as their effect, unknown types recorded and acknowledged. Each outcome is a WebhookOutcome."""

from fractions import Fraction
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.driver_sql import DriverConnection, undone_on_failure
from common.error_codes import ErrorCode
from common.errors import Unauthorized
from common.models import Program
from common.models.mynapoint import ProgramKind
from common.money import apply_rate
from common.schemas import parse_json
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import grants, ledger, repository, signing
from services.mynapoint.outcomes import Effect, WebhookOutcome
from services.mynapoint.providers import live_secrets
from services.mynapoint.schemas import ChargeCompleted
from services.mynapoint.statements import PROVIDER_SECRETS, RECORD_INBOUND, SET_INBOUND_OUTCOME, ProviderSecrets

BAD_SIGNATURE = "the webhook signature, timestamp or provider is not valid"


async def receive(
    session: AsyncSession, provider_id: str, body: bytes, headers: dict[str, str], settings: Settings
) -> dict[str, Any]:
    sql = DriverConnection(session)
    # Committed with the read, so that a grant.credited's batch begins and commits in one round trip of its own.
    (found,) = await sql.commit_with([(PROVIDER_SECRETS, {"provider_id": provider_id})])
    secrets = [] if found.row is None else live_secrets(ProviderSecrets(*found.row), utcnow())
    if not signing.verify(body, headers, secrets):  # no provider, no secrets: nothing verifies
        raise Unauthorized(BAD_SIGNATURE, code=ErrorCode.BAD_SIGNATURE, headers={})
    webhook_id = headers["webhook-id"][:120]
    try:
        event = parse_json(body)
        event_type, data = str(event["type"])[:60], event.get("data") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        event_type, data = "(malformed)", {}
    grant_id = data.get("grant_id") if isinstance(data, dict) else None
    if event_type == "grant.credited" and isinstance(grant_id, str) and grant_id:
        credited = await _credit(sql, provider_id, webhook_id, grant_id)
        if credited is not None:
            return credited
    record = {"provider_id": provider_id, "webhook_id": webhook_id}
    (recorded,) = await sql.run_all(
        [
            (
                RECORD_INBOUND,
                record | {"event_type": event_type, "outcome": WebhookOutcome.RECEIVED.value, "received_at": utcnow()},
            )
        ]
    )
    if recorded.row is None:
        return {"webhook_id": webhook_id, "duplicate": True}
    effect = await _apply(session, provider_id, event_type, data, settings)
    await sql.run_all([(SET_INBOUND_OUTCOME, record | {"outcome": effect.text})])
    return {"webhook_id": webhook_id, "duplicate": False, "type": event_type, "outcome": effect.text}


async def _credit(sql: DriverConnection, provider_id: str, webhook_id: str, grant_id: str) -> dict[str, Any] | None:
    """grant.credited, the event a provider sends for every grant, in one committed batch: ledger.POST and the
    inbound record with its outcome. None when the batch failed on a constraint (a repeated webhook-id,
    foremost), which the general path then answers."""
    now = utcnow()  # one instant: RECORD_CREDIT knows the grant was posted by this batch by its resolved_at
    try:
        *_, recorded = await sql.commit_with(
            [
                *ledger.movement(ledger.POST, grant_id, now, provider_id=provider_id),
                (
                    ledger.RECORD_CREDIT,
                    {"provider_id": provider_id, "grant_id": grant_id, "webhook_id": webhook_id, "now": now},
                ),
            ]
        )
    except sql.integrity_error:
        return None
    outcome = recorded.row[0] if recorded.row else WebhookOutcome.NO_SUCH_GRANT.value
    return {"webhook_id": webhook_id, "duplicate": False, "type": "grant.credited", "outcome": outcome}


async def _apply(session: AsyncSession, provider_id: str, event_type: str, data: Any, settings: Settings) -> Effect:
    if not isinstance(data, dict):
        return Effect(WebhookOutcome.NOT_AN_OBJECT)
    if event_type == "grant.credited":
        grant_id = data.get("grant_id")
        if not grant_id:
            return Effect(WebhookOutcome.GRANT_ID_MISSING)
        return Effect(await grants.credit(session, provider_id, str(grant_id)))
    if event_type == "charge.completed":
        try:
            async with undone_on_failure(session):
                return await charge_completed(session, provider_id, data, settings)
        except ledger.BudgetExhausted:  # undone with its savepoint: the person-total increase too
            return Effect(WebhookOutcome.BUDGET_EXHAUSTED)
    if event_type == "account.unlinked":
        return await unlink_account(session, provider_id, data)
    return Effect(WebhookOutcome.UNKNOWN_EVENT_TYPE)


async def charge_completed(session: AsyncSession, provider_id: str, data: dict[str, Any], settings: Settings) -> Effect:
    """A qualifying charge: rate × amount in points, within the per-person cap and the budget, once per charge;
    ledger.BudgetExhausted when the budget does not cover it."""
    try:
        charge = ChargeCompleted.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        return Effect(WebhookOutcome.INVALID_CHARGE, f"{first['loc'][0]}: {first['msg']}")
    program = await session.get(Program, charge.program_id)
    if program is None or program.kind != ProgramKind.premium or program.premium_rate is None:
        return Effect(WebhookOutcome.NO_PREMIUM_PROGRAM)
    application = await repository.application_by_account(session, program.id, provider_id, charge.provider_account_id)
    if application is None:
        return Effect(WebhookOutcome.NO_APPLICATION)
    if application.unlinked_at is not None:
        return Effect(WebhookOutcome.ACCOUNT_UNLINKED)
    source = f"{grants.CHARGE_SOURCE}{charge.charge_id}"
    if await repository.grant_for(session, program.id, application.myki_hash, source) is not None:
        return Effect(WebhookOutcome.CHARGE_ALREADY_GRANTED)
    points = await grants.claim_within_cap(
        session, program, application, apply_rate(charge.amount_yen, Fraction(program.premium_rate))
    )
    if points == 0:
        return Effect(WebhookOutcome.CAP_REACHED)
    grant = await grants.reserve_grant(session, program.id, application, source, points, settings)
    return Effect(WebhookOutcome.RESERVED, f"{points} points as {grant['id']}")


async def unlink_account(session: AsyncSession, provider_id: str, data: dict[str, Any]) -> Effect:
    """account.unlinked: the resident's applications on that account (of one program when program_id is given)
    are marked unlinked and their reservations voided; posted grants stay, as those points already landed.
    Later charges on the account are refused."""
    account, program_id = data.get("provider_account_id"), data.get("program_id")
    if not isinstance(account, str) or not account:
        return Effect(WebhookOutcome.ACCOUNT_MISSING)
    if program_id is not None and not isinstance(program_id, str):
        return Effect(WebhookOutcome.PROGRAM_ID_NOT_TEXT)
    now = utcnow()
    unlinked = voided = 0
    for application in await repository.linked_applications_on_account(session, provider_id, account, program_id):
        if await repository.mark_unlinked(session, application.id, now):
            unlinked += 1
            for grant_id in await repository.reserved_grant_ids(session, application.id):
                voided += await grants.void_grant(session, grant_id)
    return Effect(WebhookOutcome.UNLINKED, f"{_count(unlinked, 'application')}, voided {_count(voided, 'grant')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
