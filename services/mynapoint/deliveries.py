"""Outbound webhooks, written to the outbox in the transaction that causes them (the transactional outbox);
services/mynapoint/worker.py sends them, services/mynapoint/redelivery.py sends a failed one again."""

import json
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.driver_sql import DriverConnection, DriverStatement
from common.ids import new_id
from common.models import Grant
from common.models.mynapoint import DeliveryStatus
from common.timeutil import aware, utcnow
from services.mynapoint import repository
from services.mynapoint.statements import INSERT_OUTBOX_EVENT


def outbox_entry(
    provider_id: str, event_type: str, data: dict[str, Any], not_before: datetime | None = None
) -> tuple[DriverStatement, dict[str, Any]]:
    """The one way an outbound event is written: its row, for the caller's batch or transaction."""
    now = utcnow()
    body = json.dumps(
        {"type": event_type, "timestamp": now.isoformat(), "data": data}, ensure_ascii=False, separators=(",", ":")
    )
    due = not_before if not_before is not None and not_before > now else now
    return (
        INSERT_OUTBOX_EVENT,
        {
            "id": new_id("msg"),
            "provider_id": provider_id,
            "event_type": event_type,
            "grant_id": data.get("grant_id"),
            "body": body,
            "status": DeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": due,
            "created_at": now,
        },
    )


def grant_created(grant: dict[str, Any], provider_account_id: str) -> tuple[DriverStatement, dict[str, Any]]:
    return outbox_entry(
        grant["provider_id"],
        "grant.created",
        {
            "grant_id": grant["id"],
            "program_id": grant["program_id"],
            "provider_account_id": provider_account_id,
            "points": grant["points"],
            "expires_at": grant["expires_at"].isoformat(),
        },
    )


async def tell_revoked(session: AsyncSession, grant: Grant, not_before: datetime | None = None) -> None:
    await DriverConnection(session).run_all(
        [
            outbox_entry(
                grant.provider_id,
                "grant.revoked",
                {"grant_id": grant.id, "program_id": grant.program_id, "points": grant.points},
                not_before,
            )
        ]
    )


async def withdraw_from_provider(session: AsyncSession, grant: Grant) -> None:
    """A voided reservation must never be credited: its grant.created is cancelled if it was never sent and no
    worker is sending it; otherwise the provider has it, or may have it, and is sent grant.revoked."""
    now = utcnow()
    if await repository.cancel_grant_created(session, grant.id, now, attempted=False):
        return
    # An earlier attempt may have landed although it failed: no more retries, and the provider hears it is void.
    await repository.cancel_grant_created(session, grant.id, now, attempted=True)
    in_flight_until = await repository.grant_created_lease(session, grant.id, now)
    # After the lease ends, so a grant.created being sent right now reaches the provider before its revocation.
    await tell_revoked(session, grant, not_before=aware(in_flight_until) if in_flight_until else None)
