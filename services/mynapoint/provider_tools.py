"""What a provider integrating by webhooks uses besides the events: its own record, a signed test event (`ping`)
and one call that queues again everything that failed while its endpoint was down (`recover`)."""

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.driver_sql import DriverConnection, undone_on_failure
from common.error_codes import ErrorCode
from common.errors import ChiikiError, NotFound, Unprocessable
from common.models import OutboxEvent, Provider
from common.models.mynapoint import DeliveryStatus
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import deliveries, redelivery

# One recovery queues at most this many; a second call goes on where it stopped (what it queued is pending).
MAX_RECOVERED = 500


async def provider_for(session: AsyncSession, principal: Principal, provider_id: str) -> Provider:
    """The provider if this caller may see it: ops any, a provider key its own (404 for another's)."""
    provider = await get_or_404(session, Provider, provider_id, field="provider_id")
    if principal.role != "ops" and principal.provider_id != provider.id:
        raise NotFound(f"no provider {provider_id}", field="provider_id")
    return provider


def _refuse_if_disabled(provider: Provider) -> None:
    if provider.webhook_disabled_at is not None:
        raise Unprocessable(
            f"provider {provider.id}'s endpoint was disabled by a 410; enable it first "
            f"(POST /mynapoint/providers/{provider.id}/enable-webhooks)",
            code=ErrorCode.ENDPOINT_DISABLED,
            field="provider_id",
        )


async def ping(session: AsyncSession, principal: Principal, provider_id: str) -> OutboxEvent:
    """A signed `ping` to the provider's endpoint, sent by the worker as any event; it changes nothing."""
    provider = await provider_for(session, principal, provider_id)
    _refuse_if_disabled(provider)
    statement, values = deliveries.outbox_entry(
        provider.id, "ping", {"provider_id": provider.id, "message": "ping from chiiki"}
    )
    await DriverConnection(session).run_all([(statement, values)])
    return await get_or_404(session, OutboxEvent, values["id"], field="provider_id", noun="delivery")


async def recover(
    session: AsyncSession,
    principal: Principal,
    provider_id: str,
    since: datetime,
    until: datetime | None,
    settings: Settings,
) -> dict[str, Any]:
    """Every failed delivery of the provider created in [since, until) is redelivered by the rules of a single
    redelivery (services/mynapoint/redelivery.py), each on its own: one the rules refuse is skipped with its
    code and nothing of it is written, the others are queued. A second call finds the queued ones pending."""
    provider = await provider_for(session, principal, provider_id)
    _refuse_if_disabled(provider)
    end = until or utcnow()
    if end <= since:
        raise Unprocessable("until must be after since", field="until")
    queued: list[str] = []
    skipped: list[dict[str, str]] = []
    for event_id in await _failed_between(session, provider.id, since, end):
        try:
            async with undone_on_failure(session):
                queued.append((await redelivery.redeliver(session, event_id, settings)).id)
        except ChiikiError as refusal:
            skipped.append({"event_id": event_id, "code": str(refusal.code), "message": refusal.message})
    return {"queued": len(queued), "deliveries": queued, "skipped": skipped}


async def _failed_between(session: AsyncSession, provider_id: str, start: datetime, end: datetime) -> list[str]:
    query = (
        select(col(OutboxEvent.id))
        .where(
            col(OutboxEvent.provider_id) == provider_id,
            col(OutboxEvent.status) == DeliveryStatus.failed,
            col(OutboxEvent.created_at) >= start,
            col(OutboxEvent.created_at) < end,
        )
        .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
        .limit(MAX_RECOVERED)
    )
    return list((await session.exec(query)).all())
