"""The delivery worker: sends outbox events to providers as Standard Webhooks.

Each event is claimed with a lease (a token and an expiry) in a short transaction, sent outside any
transaction, and its outcome recorded only if the lease is still this worker's. Several workers never send
one event at the same time (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite), and an event
whose worker died mid-delivery is sent again after its lease expires: delivery is at least once, and
providers dedupe by webhook-id. The lease follows the work: while a batch is being sent and recorded, the
worker renews its leases every third of a lease (CHIIKI_WORKER_LEASE_SECONDS), so a slow provider never
costs a worker its lease, and a short lease hands a dead worker's events to another within seconds.
"""

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import Database
from common.errors import ChiikiError
from common.models import DeliveryAttempt, Grant, OutboxEvent, Provider
from common.models.mynapoint import DeliveryStatus, GrantStatus
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import grants, repository, signing
from services.mynapoint.providers import live_secrets

log = logging.getLogger("chiiki.mynapoint.worker")

# Standard Webhooks / Svix: the delay before each attempt — immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
MAX_RETRY_AFTER_SECONDS = 36000
# Longer than the spec's 72 hours and than a provider's whole retry window (about 28 hours).
IDEMPOTENCY_RETENTION = timedelta(days=7)


@dataclass
class Claimed:
    id: str
    token: str
    body: str
    url: str
    secrets: list[str]
    attempts: int
    disabled: bool
    event_type: str
    grant_id: str | None


class Sent(NamedTuple):
    """What one attempt came to: the endpoint's status or why there was none, and whether the request left."""

    status: int | None
    error: str | None
    retry_after: float | None = None
    request_sent: bool = True


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        schedule: tuple[float, ...] = RETRY_SCHEDULE,
        lease_seconds: float | None = None,
        batch_size: int = 20,
        rng: random.Random | None = None,
    ):
        self.db = db
        self.settings = settings
        self.client = client or httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        self.schedule = schedule
        self.lease = timedelta(seconds=settings.worker_lease_seconds if lease_seconds is None else lease_seconds)
        self.batch_size = batch_size
        self.rng = rng or random.Random()

    async def run_once(self) -> int:
        """Deliver one batch of due events; the number attempted."""
        claimed = await self._claim()
        if not claimed:
            return 0
        async with self._leases_renewed(claimed):
            outcomes = await asyncio.gather(*(self._timed_send(event) for event in claimed))
            # Recorded one by one: each is a short transaction, and sends are what take time.
            for event, (attempt, sent) in zip(claimed, outcomes, strict=True):
                async with self.db.sessionmaker() as session:
                    session.add(attempt)
                    await self._record(session, event, sent)
                    await session.commit()
        return len(claimed)

    @contextlib.asynccontextmanager
    async def _leases_renewed(self, claimed: list[Claimed]) -> AsyncIterator[None]:
        """The batch's leases renewed every third of a lease until the block ends. The renewing task is told
        to stop rather than cancelled, so it is never interrupted inside a database call."""
        done = asyncio.Event()
        renewing = asyncio.create_task(self._renew_leases([event.token for event in claimed], done))
        try:
            yield
        finally:
            done.set()
            await renewing

    async def _renew_leases(self, tokens: list[str], done: asyncio.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=interval)
                return
            try:
                async with self.db.sessionmaker() as session:
                    await _extend_leases(session, tokens, utcnow() + self.lease)
                    await session.commit()
            except Exception:  # a database hiccup: the next renewal may still come in time
                log.warning("could not renew the leases of %d events", len(tokens), exc_info=True)

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("delivery worker started (batch %d, lease %ss)", self.batch_size, self.lease.total_seconds())
        while not stop.is_set():
            try:
                await self.sweep_expired_reservations()
                attempted = await self.run_once()
            except Exception:  # a database hiccup must not end the worker
                log.exception("delivery batch failed")
                attempted = 0
            if not attempted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_poll_seconds)

    async def sweep_expired_reservations(self) -> int:
        """Void reservations no provider credited in time, and forget idempotency keys past their retention."""
        async with self.db.sessionmaker() as session:
            voided = await grants.void_expired_reservations(session)
            await repository.delete_idempotency_records_before(session, utcnow() - IDEMPOTENCY_RETENTION)
            await session.commit()
        return voided

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        claimed = []
        async with self.db.sessionmaker() as session:
            for event in await repository.claim_due_events(session, now, self.batch_size):
                if await _offers_a_resolved_grant(session, event):
                    event.status, event.lease_token, event.lease_until = DeliveryStatus.cancelled, None, None
                    session.add(event)
                    continue
                provider = await session.get_one(Provider, event.provider_id)
                event.lease_token, event.lease_until = secrets.token_hex(8), now + self.lease
                session.add(event)
                claimed.append(
                    Claimed(
                        event.id,
                        event.lease_token,
                        event.body,
                        provider.webhook_url,
                        live_secrets(provider, now),
                        event.attempts,
                        provider.webhook_disabled_at is not None,
                        event.event_type,
                        event.grant_id,
                    )
                )
                # Counted as it starts: a worker that dies sending it may have delivered it, so a void must
                # not take it for never sent (and cancel it without telling the provider).
                event.attempts += 1
            await session.commit()
        return claimed

    async def _timed_send(self, event: Claimed) -> tuple[DeliveryAttempt, Sent]:
        """The send and its attempt row (GET /mynapoint/deliveries/{event_id}): when, what came back, how long."""
        started, clock = utcnow(), time.monotonic()
        sent = await self._send(event)
        latency_ms = round((time.monotonic() - clock) * 1000)
        attempt = DeliveryAttempt(
            event_id=event.id,
            attempted_at=started,
            status_code=sent.status,
            error=sent.error[:500] if sent.error else None,
            latency_ms=latency_ms,
            request_sent=sent.request_sent,
        )
        return attempt, sent

    async def _send(self, event: Claimed) -> Sent:
        if event.disabled:
            return Sent(410, "endpoint disabled after an earlier 410", request_sent=False)
        try:
            # Checked at every attempt, and sent to the address checked: the name may have been rebound since.
            target = await signing.destination(event.url, allow_insecure=self.settings.insecure_webhooks_allowed())
            headers = signing.sign_headers(event.id, event.body, event.secrets) | target.headers
            response = await self.client.post(
                target.url,
                content=event.body.encode(),
                headers=headers,
                extensions=target.extensions,
                timeout=self.settings.webhook_timeout_seconds,
            )
        except ChiikiError as exc:  # the destination check refused the address: nothing was sent
            return Sent(None, exc.message, request_sent=False)
        except httpx.HTTPError as exc:
            never_left = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            return Sent(None, f"{type(exc).__name__}: {exc}"[:500], request_sent=not never_left)
        return Sent(response.status_code, None, _retry_after(response.headers.get("retry-after")))

    async def _record(self, session: AsyncSession, event: Claimed, sent: Sent) -> None:
        status, error, retry_after = sent.status, sent.error, sent.retry_after
        now = utcnow()
        attempts = event.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": status,
            "last_error": error,
            "lease_token": None,
            "lease_until": None,
        }
        if status is not None and 200 <= status < 300:
            values |= {"status": DeliveryStatus.delivered, "delivered_at": now, "last_error": None}
        elif status == 410 or attempts >= len(self.schedule):
            values |= {
                "status": DeliveryStatus.failed,
                "last_error": "endpoint gone (410): disabled" if status == 410 else error or f"HTTP {status}",
            }
        elif await _grant_resolved_meanwhile(session, event):
            values |= {"status": DeliveryStatus.cancelled, "last_error": error or f"HTTP {status}"}
        else:
            values["next_attempt_at"] = now + timedelta(seconds=self._delay(attempts, retry_after))
            values["last_error"] = error or f"HTTP {status}"
        if not await _update_if_still_leased(session, event, values):
            # A void that cancelled it meanwhile found it attempted, and has sent grant.revoked itself.
            log.warning("lost the lease on %s before recording its outcome", event.id)
            return
        if values.get("status") == DeliveryStatus.failed:
            await self._after_final_failure(session, event, status == 410, now)

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        delay = self.schedule[attempts] * (1 + self.rng.uniform(-JITTER, JITTER))
        return max(delay, retry_after or 0)

    async def _after_final_failure(self, session: AsyncSession, event: Claimed, gone: bool, now: datetime) -> None:
        outbox = await session.get_one(OutboxEvent, event.id)
        if gone:
            await session.exec(
                update(Provider)
                .where(col(Provider.id) == outbox.provider_id)
                .values(webhook_disabled_at=now)
                .execution_options(synchronize_session=False)
            )
        if outbox.event_type != "grant.created" or not outbox.grant_id:
            return
        if await repository.delivery_may_have_landed(session, outbox.id, outbox.attempts):
            voided = await grants.void_grant(session, outbox.grant_id)  # the provider is sent grant.revoked
        else:
            voided = await grants.void_undelivered_grant(session, outbox.grant_id)
        if voided:
            log.info("voided grant %s after its grant.created could not be delivered", outbox.grant_id)


async def _offers_a_resolved_grant(session: AsyncSession, event: OutboxEvent) -> bool:
    """A grant.created left pending by a worker that died sending it, whose grant was resolved since: never sent
    again. Credited, the provider has it; voided, its grant.revoked is due now too, and sent in the same batch
    it could overtake this grant.created and leave the provider holding a void grant."""
    if event.event_type != "grant.created" or event.grant_id is None:
        return False
    status = (await session.exec(select(Grant.status).where(Grant.id == event.grant_id))).first()
    return status is not None and status != GrantStatus.reserved


async def _grant_resolved_meanwhile(session: AsyncSession, event: Claimed) -> bool:
    """A grant.created whose grant was resolved during this attempt is not retried: credited, it needs no retry;
    voided, grant.revoked is on its way, and a later grant.created must not overtake it."""
    if event.event_type != "grant.created" or event.grant_id is None:
        return False
    # FOR SHARE: a void still in flight has found this event leased and is enqueueing grant.revoked; wait for it.
    status = (
        await session.exec(select(Grant.status).where(Grant.id == event.grant_id).with_for_update(read=True))
    ).first()
    return status is not None and status != GrantStatus.reserved


async def _extend_leases(session: AsyncSession, tokens: list[str], until: datetime) -> None:
    """Leases still held by these tokens run until `until`; an event already recorded holds none."""
    await session.exec(
        update(OutboxEvent)
        .where(col(OutboxEvent.lease_token).in_(tokens))
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )


async def _update_if_still_leased(session: AsyncSession, event: Claimed, values: dict[str, Any]) -> bool:
    result = await session.exec(
        update(OutboxEvent)
        .where(col(OutboxEvent.id) == event.id, col(OutboxEvent.lease_token) == event.token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return None  # HTTP-date form: fall back to the schedule
