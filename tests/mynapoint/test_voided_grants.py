"""A voided reservation is withdrawn from the provider: a grant.created never sent is cancelled (and nothing else
is sent); one that was delivered, may have landed, or is being sent right now is followed by grant.revoked."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from common.models import Grant, OutboxEvent
from services.mynapoint import worker as delivery_worker
from services.mynapoint.grants import void_grant
from services.mynapoint.listings import delivery_attempts
from services.mynapoint.settlement import reconcile
from services.mynapoint.worker import DeliveryWorker
from tests.conftest import bearer
from tests.mynapoint.builders import application, applied_grant, post_event, unlinked, worker
from tests.mynapoint.conftest import Receiver


async def _events(session, grant_id: str) -> dict[str, OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.grant_id == grant_id).execution_options(populate_existing=True)
    return {event.event_type: event for event in (await session.exec(query)).all()}


async def _every_attempt_failed(db, settings, http_client, session, grant_id: str) -> dict[str, OutboxEvent]:
    """The worker's three attempts at the grant's events through `http_client`; the grant is then void. Its
    events, by type."""
    for _ in range(3):
        await worker(db, settings, http_client).run_once()
    stored = await session.get(Grant, grant_id)
    await session.refresh(stored)
    assert stored.status == "voided"
    return await _events(session, grant_id)


def _sent(receiver: Receiver, secret: str) -> list[dict]:
    """What the provider received, each checked with the reference package."""
    return [Webhook(secret).verify(request.content, dict(request.headers)) for request in receiver.received]


async def _expire(session, grant_id: str) -> None:
    stored = await session.get(Grant, grant_id)
    stored.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    session.add(stored)
    await session.commit()


def _during_send(receiver: Receiver, hook) -> httpx.AsyncClient:
    """A provider endpoint that runs `hook` while a grant.created is in flight, then answers as the receiver."""

    async def handle(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["type"] == "grant.created":
            await hook()
        return receiver.handle(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


# --- never sent: cancelled ------------------------------------------------------------------------------


async def test_an_expired_reservation_cancels_its_unsent_grant_created(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    await _expire(session, grant["id"])
    assert await worker(db, settings, receiver_client).sweep_expired_reservations() == 1

    events = await _events(session, grant["id"])
    assert list(events) == ["grant.created"] and events["grant.created"].status == "cancelled"
    assert await worker(db, settings, receiver_client).run_once() == 0
    assert receiver.received == []
    assert await reconcile(session) == []

    cancelled = (await client.get("/mynapoint/deliveries?status=cancelled", headers=bearer(ops_key))).json()
    assert [d["id"] for d in cancelled["items"]] == [events["grant.created"].id]
    failed = (await client.get("/mynapoint/deliveries?status=failed", headers=bearer(ops_key))).json()
    assert failed["items"] == []
    refused = await client.post(
        f"/mynapoint/deliveries/{events['grant.created'].id}/redeliver", headers=bearer(ops_key)
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "delivery_cancelled"
    assert await worker(db, settings, receiver_client).run_once() == 0
    assert receiver.received == []


async def test_revoking_a_reservation_before_delivery_cancels_it_and_sends_nothing(
    client, app_key, muni_key, provider, program, receiver, receiver_client, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    revoked = await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(muni_key))
    assert revoked.status_code == 200 and revoked.json()["status"] == "voided"
    events = await _events(session, grant["id"])
    assert {kind: event.status for kind, event in events.items()} == {"grant.created": "cancelled"}
    assert await worker(db, settings, receiver_client).run_once() == 0
    assert receiver.received == []
    assert await reconcile(session) == []


# --- delivered, or may have landed: grant.revoked --------------------------------------------------------


async def test_unlinking_after_delivery_sends_grant_revoked(
    client, app_key, provider, program, receiver, receiver_client, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    assert await worker(db, settings, receiver_client).run_once() == 1
    outcome = (await post_event(client, provider, unlinked("acct-myki-0001"))).json()["outcome"]
    assert outcome == "unlinked 1 application, voided 1 grant"
    events = await _events(session, grant["id"])
    assert (events["grant.created"].status, events["grant.revoked"].status) == ("delivered", "pending")

    assert await worker(db, settings, receiver_client).run_once() == 1
    created, revoked = _sent(receiver, provider["webhook_secret"])
    assert (created["type"], revoked["type"]) == ("grant.created", "grant.revoked")
    assert revoked["data"] == {"grant_id": grant["id"], "program_id": program["id"], "points": 5_000}
    await session.refresh(events["grant.revoked"])
    assert events["grant.revoked"].status == "delivered"
    assert await reconcile(session) == []


async def test_revoking_a_delivered_reservation_sends_grant_revoked(
    client, app_key, muni_key, provider, program, receiver, receiver_client, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    await worker(db, settings, receiver_client).run_once()
    revoked = await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(muni_key))
    assert revoked.json()["status"] == "voided"
    await worker(db, settings, receiver_client).run_once()
    assert [payload["type"] for payload in _sent(receiver, provider["webhook_secret"])] == [
        "grant.created",
        "grant.revoked",
    ]


async def test_a_void_after_a_failed_attempt_stops_the_retries_and_sends_grant_revoked(
    client, app_key, provider, program, receiver, receiver_client, db, settings, session
):
    """The failed attempt may have reached the provider, so it hears the grant is void, and is never offered it
    again after that."""
    grant = await applied_grant(client, app_key, provider, program)
    receiver.fail = lambda request: httpx.Response(503)
    await worker(db, settings, receiver_client).run_once()
    receiver.fail = None
    await _expire(session, grant["id"])
    await worker(db, settings, receiver_client).sweep_expired_reservations()
    events = await _events(session, grant["id"])
    assert (events["grant.created"].status, events["grant.created"].attempts) == ("cancelled", 1)
    assert events["grant.revoked"].status == "pending"

    await worker(db, settings, receiver_client).run_once()
    assert await worker(db, settings, receiver_client).run_once() == 0
    assert [payload["type"] for payload in _sent(receiver, provider["webhook_secret"])] == [
        "grant.created",
        "grant.revoked",
    ]


async def test_a_final_delivery_failure_voids_and_sends_grant_revoked(
    client, app_key, provider, program, receiver, receiver_client, db, settings, session
):
    """A 503 may come after the provider stored the event (as may a lost answer), so the provider hears the grant
    is void once it answers again."""
    grant = await applied_grant(client, app_key, provider, program)
    receiver.fail = lambda request: httpx.Response(503)
    events = await _every_attempt_failed(db, settings, receiver_client, session, grant["id"])
    assert (events["grant.created"].status, events["grant.revoked"].status) == ("failed", "pending")
    assert [attempt.request_sent for attempt in await delivery_attempts(session, events["grant.created"].id)] == [
        True
    ] * 3

    receiver.fail = None
    await worker(db, settings, receiver_client).run_once()
    assert [payload["type"] for payload in _sent(receiver, provider["webhook_secret"])][-1] == "grant.revoked"
    await session.refresh(events["grant.revoked"])
    assert events["grant.revoked"].status == "delivered"


async def test_a_final_failure_whose_requests_never_left_voids_and_sends_nothing(
    client, app_key, provider, program, receiver, db, settings, session
):
    """No attempt connected, so the provider never got the grant: it is voided with nothing sent."""
    grant = await applied_grant(client, app_key, provider, program)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    refusing = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    events = await _every_attempt_failed(db, settings, refusing, session, grant["id"])
    assert {kind: event.status for kind, event in events.items()} == {"grant.created": "failed"}
    assert [attempt.request_sent for attempt in await delivery_attempts(session, events["grant.created"].id)] == [
        False
    ] * 3


# --- a void while grant.created is being sent ----------------------------------------------------------------


async def test_a_void_during_delivery_sends_grant_revoked_after_the_lease(
    client, app_key, provider, program, receiver, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)

    async def unlink_now():
        outcome = (await post_event(client, provider, unlinked("acct-myki-0001"))).json()["outcome"]
        assert outcome == "unlinked 1 application, voided 1 grant"

    during = _during_send(receiver, unlink_now)
    sender = DeliveryWorker(db, settings, client=during, schedule=(0, 0, 0), lease_seconds=60)
    started = datetime.now(UTC)
    assert await sender.run_once() == 1
    events = await _events(session, grant["id"])
    assert events["grant.created"].status == "delivered"  # the worker held it: not cancelled under it
    due = events["grant.revoked"].next_attempt_at.replace(tzinfo=UTC)
    assert due >= started + timedelta(seconds=59)  # not before the grant.created's lease ends
    assert await sender.run_once() == 0

    events["grant.revoked"].next_attempt_at = datetime.now(UTC)
    session.add(events["grant.revoked"])
    await session.commit()
    assert await sender.run_once() == 1
    assert [payload["type"] for payload in _sent(receiver, provider["webhook_secret"])] == [
        "grant.created",
        "grant.revoked",
    ]


async def test_a_void_during_a_failing_delivery_stops_its_retries(
    client, app_key, provider, program, receiver, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    receiver.fail = lambda request: (
        httpx.Response(503) if json.loads(request.content)["type"] == "grant.created" else None
    )

    async def unlink_now():
        await post_event(client, provider, unlinked("acct-myki-0001"))

    sender = DeliveryWorker(db, settings, client=_during_send(receiver, unlink_now), schedule=(0, 0, 0, 0))
    await sender.run_once()
    events = await _events(session, grant["id"])
    assert (events["grant.created"].status, events["grant.created"].attempts) == ("cancelled", 1)
    events["grant.revoked"].next_attempt_at = datetime.now(UTC)  # as if the grant.created's lease had ended
    session.add(events["grant.revoked"])
    await session.commit()
    await sender.run_once()
    assert await sender.run_once() == 0
    assert [payload["type"] for payload in _sent(receiver, provider["webhook_secret"])] == [
        "grant.created",
        "grant.revoked",
    ]


async def test_a_delivery_that_lands_after_its_lease_ran_out_and_a_cancel_is_revoked(
    client, app_key, provider, program, receiver, db, settings, session, monkeypatch
):
    """A stalled worker: its lease expires mid-send, a void cancels the event (counted as attempted when it was
    claimed, so grant.revoked follows), then the send lands. (A worker renews its leases while it sends; this
    one's renewals never reach the database.)"""

    async def renewal_lost(*_args):
        return None

    monkeypatch.setattr(delivery_worker, "_extend_leases", renewal_lost)
    grant = await applied_grant(client, app_key, provider, program)

    async def stall_then_unlink():
        await asyncio.sleep(0.05)
        await post_event(client, provider, unlinked("acct-myki-0001"))

    sender = DeliveryWorker(db, settings, client=_during_send(receiver, stall_then_unlink), lease_seconds=0.01)
    await sender.run_once()
    events = await _events(session, grant["id"])
    assert (events["grant.created"].status, events["grant.revoked"].status) == ("cancelled", "pending")
    await sender.run_once()
    assert [payload["type"] for payload in _sent(receiver, provider["webhook_secret"])] == [
        "grant.created",
        "grant.revoked",
    ]


# --- voids racing the worker, on committed transactions --------------------------------------------------

RACERS = 24


async def test_voids_racing_the_worker_never_leave_a_sent_grant_unrevoked(live):
    """Each grant.created is either cancelled and never sent, or sent and then followed by grant.revoked."""
    receiver, app = Receiver(), await live.key("app")
    made = await live.fixed_program(receiver, [f"race-{n}" for n in range(RACERS)], budget=RACERS * 5_000)
    provider, program = made.provider, made.program
    grants = []
    for n in range(RACERS):
        answer = await live.client.post(
            f"/mynapoint/programs/{program['id']}/applications",
            headers=bearer(app),
            json=application(provider["id"], f"race-{n}"),
        )
        grants.append(answer.json()["grant"]["id"])
    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle))
    sender = DeliveryWorker(
        live.db, live.settings, client=client, schedule=(0, 0, 0), lease_seconds=1, batch_size=RACERS // 6
    )

    async def after(seconds: float, work):
        await asyncio.sleep(seconds)
        await work()

    def void(n: int):
        return lambda: post_event(live.client, provider, unlinked(f"acct-race-{n}"))

    # The worker claims the oldest events a few at a time while the newest grants are voided one by one: the two
    # meet somewhere in the middle, at a moment that differs from run to run.
    await asyncio.gather(
        *(after(0.04 * n, sender.run_once) for n in range(6)),
        *(after(0.01 * n, void(RACERS - 1 - n)) for n in range(RACERS)),
    )
    await asyncio.sleep(1.1)  # revocations wait out the leases of grant.created events being sent
    while await sender.run_once():
        pass
    await client.aclose()

    sent = [json.loads(body) for body in receiver.applied.values()]
    created = [event["data"]["grant_id"] for event in sent if event["type"] == "grant.created"]
    revoked = [event["data"]["grant_id"] for event in sent if event["type"] == "grant.revoked"]
    assert created and set(grants) - set(created), "the race should have both sent and cancelled grant.created"
    assert sorted(created) == sorted(revoked)  # every grant the provider was offered is taken back, once
    order = [(event["type"], event["data"]["grant_id"]) for event in sent]
    for grant_id in created:
        assert order.index(("grant.created", grant_id)) < order.index(("grant.revoked", grant_id))
    async with live.db.sessionmaker() as session:
        events = (await session.exec(select(OutboxEvent).where(OutboxEvent.event_type == "grant.created"))).all()
        statuses = {event.grant_id: event.status for event in events}
        assert {statuses[grant_id] for grant_id in created} <= {"delivered"}
        assert {statuses[grant_id] for grant_id in set(grants) - set(created)} <= {"cancelled"}
        voided = (await session.exec(select(Grant.status).where(Grant.program_id == program["id"]))).all()
        assert set(voided) == {"voided"}
        assert await reconcile(session) == []


async def test_a_failed_attempt_recorded_while_a_void_commits_is_not_retried(live):
    """The void finds grant.created leased and enqueues grant.revoked; the worker recording the attempt's failure
    at that moment must see the void, or a retried grant.created could reach the provider after its revocation."""
    receiver, app = Receiver(fail=lambda request: httpx.Response(503)), await live.key("app")
    made = await live.fixed_program(receiver, ["slow-void"])
    provider, program = made.provider, made.program
    answer = await live.client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app),
        json=application(provider["id"], "slow-void"),
    )
    grant_id = answer.json()["grant"]["id"]
    voids: list[asyncio.Task] = []

    async def void_committing_later():
        session = live.db.sessionmaker()
        assert await void_grant(session, grant_id)

        async def commit():
            await asyncio.sleep(0.3)
            await session.commit()
            await session.close()

        voids.append(asyncio.create_task(commit()))

    sender = DeliveryWorker(
        live.db, live.settings, client=_during_send(receiver, void_committing_later), schedule=(0, 0, 0)
    )
    await sender.run_once()
    (void,) = voids
    await void
    async with live.db.sessionmaker() as session:
        events = await _events(session, grant_id)
    assert (events["grant.created"].status, events["grant.created"].attempts) == ("cancelled", 1)
    assert events["grant.revoked"].status == "pending"
