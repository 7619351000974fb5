"""Inbound Standard Webhooks from providers: verified on the raw bytes, deduplicated by webhook-id in the
same transaction as their effect, unknown types recorded and acknowledged."""

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.driver_sql import DriverConnection
from common.errors import Unauthorized
from common.models import InboundWebhook
from common.requestid import current_request_id
from common.schemas import parse_json
from common.settings import Settings
from common.timeutil import utcnow
from common.error_codes import ErrorCode
from services.mynapoint import repository, service, signing

BAD_SIGNATURE = "the webhook signature, timestamp or provider is not valid"


async def receive(session: AsyncSession, provider_id: str, body: bytes, headers: dict[str, str],
                  settings: Settings) -> dict:
    sql = DriverConnection(session)
    found = (await sql.run(repository.PROVIDER_SECRETS, commit=True, provider_id=provider_id)).row
    secrets = [] if found is None else service.live_secrets(repository.ProviderSecrets(*found), utcnow())
    if not signing.verify(body, headers, secrets):  # no provider, no secrets: nothing verifies
        raise Unauthorized(BAD_SIGNATURE, code=ErrorCode.BAD_SIGNATURE, headers={})
    webhook_id = headers["webhook-id"][:120]
    try:
        event = parse_json(body)
        event_type, data = str(event["type"])[:60], event.get("data") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        event, event_type, data = None, "(malformed)", {}
    grant_id = data.get("grant_id") if isinstance(data, dict) else None
    if event_type == "grant.credited" and isinstance(grant_id, str) and grant_id:
        credited = await _credit(session, sql, provider_id, webhook_id, grant_id)
        if credited is not None:
            return credited
    record = InboundWebhook(provider_id=provider_id, webhook_id=webhook_id, event_type=event_type, outcome="received")
    first = await session.begin_nested()
    try:
        session.add(record)
        await session.flush()
    except IntegrityError:
        await first.rollback()
        return {"webhook_id": webhook_id, "duplicate": True}
    await first.commit()
    record.outcome = (await _apply(session, provider_id, event_type, data, settings))[:200]
    session.add(record)
    await session.flush()
    return {"webhook_id": webhook_id, "duplicate": False, "type": event_type, "outcome": record.outcome}


async def _credit(session: AsyncSession, sql: DriverConnection, provider_id: str, webhook_id: str,
                  grant_id: str) -> dict | None:
    """grant.credited, the event a provider sends for every grant, in one committed batch: what credit_grant and
    the inbound record do, with the same rows and outcome. None when the batch failed on a constraint (a repeated
    webhook-id, foremost), which the general path then answers."""
    now = utcnow()
    values = {"provider_id": provider_id, "grant_id": grant_id, "now": now}
    batch = [(repository.POST_GRANT, values),
             (repository.LEDGER_POST, values | {"request_id": current_request_id(), "created_at": now}),
             (repository.BALANCES_POST, values),
             (repository.RECORD_CREDIT, values | {"webhook_id": webhook_id, "received_at": now})]
    try:
        *_, recorded = await sql.run_all(batch, commit=True)
    except sql.integrity_error:
        await session.rollback()
        return None
    return {"webhook_id": webhook_id, "duplicate": False, "type": "grant.credited", "outcome": recorded.row[0]}


async def _apply(session: AsyncSession, provider_id: str, event_type: str, data: dict, settings: Settings) -> str:
    if not isinstance(data, dict):
        return "rejected: data must be an object"
    if event_type == "grant.credited":
        grant_id = data.get("grant_id")
        return await service.credit_grant(session, provider_id, str(grant_id)) if grant_id else \
            "rejected: grant_id missing"
    if event_type == "charge.completed":
        effect = await session.begin_nested()
        try:
            outcome = await service.charge_completed(session, provider_id, data, settings)
        except service.BudgetExhausted:
            await effect.rollback()
            return "ignored: budget exhausted"
        await effect.commit()
        return outcome
    if event_type == "account.unlinked":
        return await service.unlink_account(session, provider_id, data)
    return "recorded: unknown event type"
