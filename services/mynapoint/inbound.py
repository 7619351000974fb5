"""Inbound Standard Webhooks from providers: verified on the raw bytes, deduplicated by webhook-id in the
same transaction as their effect, unknown types recorded and acknowledged."""

import json

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.errors import Unauthorized
from common.models import InboundWebhook, Provider
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import service, signing

BAD_SIGNATURE = "the webhook signature, timestamp or provider is not valid"


async def receive(session: AsyncSession, provider_id: str, body: bytes, headers: dict[str, str],
                  settings: Settings) -> dict:
    provider = await session.get(Provider, provider_id)
    if provider is None or not signing.verify(body, headers, service.live_secrets(provider, utcnow())):
        raise Unauthorized(BAD_SIGNATURE, code="bad_signature", headers={})
    webhook_id = headers["webhook-id"][:120]
    try:
        event = json.loads(body)
        event_type, data = str(event["type"])[:60], event.get("data") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        event, event_type, data = None, "(malformed)", {}
    record = InboundWebhook(provider_id=provider.id, webhook_id=webhook_id, event_type=event_type, outcome="received")
    first = await session.begin_nested()
    try:
        session.add(record)
        await session.flush()
    except IntegrityError:
        await first.rollback()
        return {"webhook_id": webhook_id, "duplicate": True}
    await first.commit()
    record.outcome = (await _apply(session, provider.id, event_type, data, settings))[:200]
    session.add(record)
    await session.flush()
    return {"webhook_id": webhook_id, "duplicate": False, "type": event_type, "outcome": record.outcome}


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
