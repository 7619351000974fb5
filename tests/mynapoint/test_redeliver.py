"""Redelivering a failed grant.created whose grant that failure voided: the grant is reserved again as a new grant
(source `redeliver:<voided grant id>`) and the new grant's grant.created is what the provider receives. Nothing is
offered that settlement would not pay for, the budget and the premium cap are used once, and the ledger reconciles."""

import asyncio
import json
from datetime import datetime

import httpx
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from common.models import Grant, LedgerEntry, OutboxEvent, Program
from services.mynapoint.settlement import reconcile
from services.mynapoint.templates import JST
from services.mynapoint.worker import DeliveryWorker
from tests.conftest import bearer
from tests.mynapoint.builders import (
    FAST,
    application,
    applied_grant,
    apply,
    error_code,
    failed_event_of,
    fixed_program,
    live_grants,
    post_event,
    premium_buyer,
    redeliver,
    resident,
    unlinked,
    worker,
    written,
)
from tests.mynapoint.conftest import Receiver


async def _fail_delivery(receiver: Receiver, sender: DeliveryWorker) -> None:
    """Every due event fails all its attempts: its grant is voided."""
    receiver.fail = lambda request: httpx.Response(503)
    for _ in FAST:
        await sender.run_once()
    receiver.fail = None


async def _grant_row(session, grant_id: str) -> Grant:
    return (
        await session.exec(select(Grant).where(Grant.id == grant_id).execution_options(populate_existing=True))
    ).one()


# --- re-reserved and delivered ---------------------------------------------------------------------------


async def test_a_voided_grant_is_reserved_again_and_only_the_new_one_reaches_the_provider(
    client, app_key, ops_key, muni_key, provider, program, receiver, receiver_client, db, settings, session
):
    old = await applied_grant(client, app_key, provider, program)
    sender = worker(db, settings, receiver_client)
    await _fail_delivery(receiver, sender)
    failed = await failed_event_of(session, old["id"])
    assert (await _grant_row(session, old["id"])).status == "voided"
    tried = len(receiver.received)

    answer = await redeliver(client, ops_key, failed.id)
    assert answer.status_code == 200, answer.text
    sent = answer.json()
    assert set(sent) >= {
        "id",
        "provider_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "grant_id",
    }
    assert (sent["event_type"], sent["status"], sent["attempts"]) == ("grant.created", "pending", 0)
    new, voided = await _grant_row(session, sent["grant_id"]), await _grant_row(session, old["id"])
    assert (new.source, new.status, new.points) == (f"redeliver:{old['id']}", "reserved", 5_000)
    assert (new.application_id, new.myki_hash) == (voided.application_id, voided.myki_hash)
    assert (await failed_event_of(session, old["id"])).id == failed.id  # the old event stays failed

    # The new grant's grant.created, and the old grant's grant.revoked: a 503 may have come after the provider
    # stored the old one.
    assert await sender.run_once() == 2
    by_type = {
        payload["type"]: (request, payload)
        for request in receiver.received[tried:]
        for payload in [Webhook(provider["webhook_secret"]).verify(request.content, dict(request.headers))]
    }
    assert by_type["grant.revoked"][1]["data"]["grant_id"] == old["id"]
    request, payload = by_type["grant.created"]
    assert request.headers["webhook-id"] == sent["id"]
    assert payload["data"] | {"expires_at": None} == {
        "grant_id": new.id,
        "program_id": program["id"],
        "provider_account_id": "acct-myki-0001",
        "points": 5_000,
        "expires_at": None,
    }
    offered = [
        e["data"]["grant_id"] for e in map(json.loads, receiver.applied.values()) if e["type"] == "grant.created"
    ]
    assert offered == [new.id]  # the voided grant was never offered again

    # The budget is used once: the old reservation was freed, the new one holds it.
    kinds = (
        await session.exec(
            select(LedgerEntry.kind, LedgerEntry.grant_id, LedgerEntry.reserved_delta)
            .where(LedgerEntry.program_id == program["id"], LedgerEntry.kind != "fund")
            .order_by(LedgerEntry.id)
        )
    ).all()
    assert [tuple(row) for row in kinds] == [
        ("reserve", old["id"], 5_000),
        ("void", old["id"], -5_000),
        ("reserve", new.id, 5_000),
    ]
    assert (await written(session, program["id"])).balances == (50_000, 5_000, 0)
    assert await reconcile(session) == []

    # The provider credits the grant it received; settlement pays for it, once.
    credited = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": new.id}})
    assert credited.json()["outcome"] == "posted"
    late = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": old["id"]}})
    assert late.json()["outcome"] == "ignored: grant already voided"
    month = f"{datetime.now(JST):%Y-%m}"
    (row,) = (await client.get(f"/mynapoint/settlements?month={month}", headers=bearer(muni_key))).json()["items"]
    assert (row["credited_count"], row["credited_yen"], row["net_yen"]) == (1, 5_000, 5_000)
    assert (await written(session, program["id"])).balances == (50_000, 0, 5_000)
    assert await reconcile(session) == []
    # Applying again shows the resident's grant: the one that replaced the voided grant.
    again = await apply(client, app_key, provider, program, "myki-0001", "acct-myki-0001")
    assert again["grant"] == {"id": new.id, "points": 5_000, "status": "posted"}


async def test_a_replayed_idempotency_key_reserves_once(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings, session
):
    old = await applied_grant(client, app_key, provider, program)
    await _fail_delivery(receiver, worker(db, settings, receiver_client))
    failed = await failed_event_of(session, old["id"])
    first = await redeliver(client, ops_key, failed.id, **{"Idempotency-Key": "again-1"})
    again = await redeliver(client, ops_key, failed.id, **{"Idempotency-Key": "again-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(await live_grants(session, program["id"])) == 1


# --- refused: nothing written -----------------------------------------------------------------------------


async def test_a_budget_that_no_longer_covers_it_is_422_and_writes_nothing(
    client, app_key, ops_key, muni_key, provider, receiver, receiver_client, db, settings, session
):
    program = (
        await client.post(
            "/mynapoint/programs", headers=bearer(muni_key), json=fixed_program(provider["id"], budget=5_000)
        )
    ).json()
    await client.post(
        f"/mynapoint/programs/{program['id']}/roster",
        headers=bearer(muni_key),
        json={"residents": [resident("myki-a"), resident("myki-b")]},
    )
    old = await applied_grant(client, app_key, provider, program, "myki-a")
    await _fail_delivery(receiver, worker(db, settings, receiver_client))
    failed = await failed_event_of(session, old["id"])
    taken = await applied_grant(client, app_key, provider, program, "myki-b")  # the freed budget goes to b
    assert taken["status"] == "reserved"

    before = await written(session, program["id"])
    refused = await redeliver(client, ops_key, failed.id)
    assert error_code(refused, 422) == "budget_exhausted"
    assert await written(session, program["id"]) == before
    assert (await failed_event_of(session, old["id"])).attempts == 3
    assert await reconcile(session) == []

    await client.post(
        f"/mynapoint/programs/{program['id']}/funding", headers=bearer(muni_key), json={"amount_yen": 5_000}
    )
    assert (await redeliver(client, ops_key, failed.id)).status_code == 200
    assert (await written(session, program["id"])).balances == (10_000, 10_000, 0)
    assert await reconcile(session) == []


async def test_a_posted_or_revoked_grant_has_nothing_to_redeliver(
    client, app_key, ops_key, muni_key, provider, program, receiver_client, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    await worker(db, settings, receiver_client).run_once()
    created = (await session.exec(select(OutboxEvent.id).where(OutboxEvent.grant_id == grant["id"]))).one()
    # Still reserved: the same event is sent again, as before.
    resent = await redeliver(client, ops_key, created)
    assert (resent.json()["id"], resent.json()["status"]) == (created, "pending")
    await worker(db, settings, receiver_client).run_once()

    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    before = await written(session, program["id"])
    assert error_code(await redeliver(client, ops_key, created), 422) == "grant_resolved"
    assert await written(session, program["id"]) == before
    await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(muni_key))
    before = await written(session, program["id"])
    assert error_code(await redeliver(client, ops_key, created), 422) == "grant_resolved"
    assert await written(session, program["id"]) == before
    # Other events are sent again as they are.
    revoked = (await session.exec(select(OutboxEvent.id).where(OutboxEvent.event_type == "grant.revoked"))).one()
    again = await redeliver(client, ops_key, revoked)
    assert (again.json()["id"], again.json()["status"]) == (revoked, "pending")
    assert await reconcile(session) == []


async def test_a_grant_withdrawn_on_purpose_is_not_reserved_again(
    client, app_key, ops_key, muni_key, provider, program, receiver_client, db, settings, session
):
    """Delivered, then revoked by the municipality before credit: voided, and the provider was told grant.revoked."""
    grant = await applied_grant(client, app_key, provider, program)
    await worker(db, settings, receiver_client).run_once()
    await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(muni_key))
    created = (
        await session.exec(
            select(OutboxEvent.id).where(OutboxEvent.grant_id == grant["id"], OutboxEvent.event_type == "grant.created")
        )
    ).one()
    before = await written(session, program["id"])
    assert error_code(await redeliver(client, ops_key, created), 422) == "grant_resolved"
    assert await written(session, program["id"]) == before


async def test_outside_the_window_no_grant_is_reserved_again(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings, session
):
    old = await applied_grant(client, app_key, provider, program)
    await _fail_delivery(receiver, worker(db, settings, receiver_client))
    failed = await failed_event_of(session, old["id"])
    stored = await session.get(Program, program["id"])
    await session.refresh(stored)
    stored.closes_at = stored.opens_at
    session.add(stored)
    await session.commit()
    before = await written(session, program["id"])
    assert error_code(await redeliver(client, ops_key, failed.id), 422) == "outside_window"
    assert await written(session, program["id"]) == before


# --- once per voided grant, and never two live grants ------------------------------------------------------


async def test_a_second_redelivery_is_409_and_reserves_nothing_more(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings, session
):
    old = await applied_grant(client, app_key, provider, program)
    await _fail_delivery(receiver, worker(db, settings, receiver_client))
    failed = await failed_event_of(session, old["id"])
    first = await redeliver(client, ops_key, failed.id)
    assert first.status_code == 200
    before = await written(session, program["id"])
    second = await redeliver(client, ops_key, failed.id)
    assert error_code(second, 409) == "already_redelivered"
    assert first.json()["grant_id"] in second.json()["error"]["message"]
    assert await written(session, program["id"]) == before
    assert [g.id for g in await live_grants(session, program["id"])] == [first.json()["grant_id"]]


async def test_an_unlinked_or_already_replaced_grant_is_not_reserved_again(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings, session
):
    old = await applied_grant(client, app_key, provider, program)
    await _fail_delivery(receiver, worker(db, settings, receiver_client))
    failed = await failed_event_of(session, old["id"])
    outcome = (await post_event(client, provider, unlinked("acct-myki-0001"))).json()["outcome"]
    assert outcome == "unlinked 1 application, voided 0 grants"
    assert error_code(await redeliver(client, ops_key, failed.id), 422) == "account_unlinked"

    relinked = (await apply(client, app_key, provider, program, "myki-0001", "acct-new"))["grant"]
    assert relinked["status"] == "reserved"  # re-linking replaced the voided grant
    before = await written(session, program["id"])
    assert error_code(await redeliver(client, ops_key, failed.id), 422) == "grant_superseded"
    assert await written(session, program["id"]) == before
    assert [g.id for g in await live_grants(session, program["id"])] == [relinked["id"]]


async def test_relinking_never_replaces_a_grant_a_redelivery_replaced(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings, session
):
    """The replacement is credited, then the account unlinked (posted grants stay): re-linking issues nothing."""
    old = await applied_grant(client, app_key, provider, program)
    sender = worker(db, settings, receiver_client)
    await _fail_delivery(receiver, sender)
    new_id = (await redeliver(client, ops_key, (await failed_event_of(session, old["id"])).id)).json()["grant_id"]
    await sender.run_once()
    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": new_id}})
    await post_event(client, provider, unlinked("acct-myki-0001"))
    relinked = await apply(client, app_key, provider, program, "myki-0001", "acct-new")
    assert relinked["grant"] == {"id": new_id, "points": 5_000, "status": "posted"}
    assert [g.id for g in await live_grants(session, program["id"])] == [new_id]
    assert await reconcile(session) == []


CONCURRENT = 8


async def test_concurrent_redeliveries_reserve_one_grant(live):
    """Committed transactions on real connections: one redelivery wins, every other one is 409."""
    receiver, app = Receiver(), await live.key("app")
    made = await live.fixed_program(receiver, ["twice"])
    ops, provider, program = made.ops_key, made.provider, made.program
    answer = await live.client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app),
        json=application(provider["id"], "twice"),
    )
    old_id = answer.json()["grant"]["id"]
    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle))
    await _fail_delivery(receiver, DeliveryWorker(live.db, live.settings, client=client, schedule=FAST))
    async with live.db.sessionmaker() as session:
        failed = await failed_event_of(session, old_id)

    answers = await asyncio.gather(*(redeliver(live.client, ops, failed.id) for _ in range(CONCURRENT)))
    statuses = sorted(response.status_code for response in answers)
    assert statuses == [200] + [409] * (CONCURRENT - 1), [r.text for r in answers]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"already_redelivered"}
    async with live.db.sessionmaker() as session:
        grants = (
            await session.exec(
                select(Grant.source, Grant.status).where(Grant.program_id == program["id"]).order_by(Grant.created_at)
            )
        ).all()
        assert [tuple(g) for g in grants] == [("application", "voided"), (f"redeliver:{old_id}", "reserved")]
        assert (await written(session, program["id"])).balances == (50_000, 5_000, 0)
        assert await reconcile(session) == []
    await client.aclose()


# --- premium: the per-person cap --------------------------------------------------------------------------


async def test_a_redelivered_premium_grant_stays_within_the_per_person_cap(
    client, app_key, muni_key, ops_key, provider, receiver, receiver_client, db, settings, session
):
    program, charge = await premium_buyer(client, app_key, muni_key, provider, "buyer-r", cap=1_000, charge_yen=4_000)
    assert (await post_event(client, provider, charge("c1"))).json()["outcome"].startswith("reserved 1000 points")
    (old_id,) = (await session.exec(select(Grant.id).where(Grant.program_id == program["id"]))).all()
    await _fail_delivery(receiver, worker(db, settings, receiver_client))
    failed = await failed_event_of(session, old_id)
    # The void gave the 1,000 points back to the cap, and a later charge took half of them: all or none.
    smaller = charge("c2")
    smaller["data"]["amount_yen"] = 2_000
    assert (await post_event(client, provider, smaller)).json()["outcome"].startswith("reserved 500 points")

    before = await written(session, program["id"])
    refused = await redeliver(client, ops_key, failed.id)
    assert error_code(refused, 422) == "per_person_cap_reached"
    assert "per-person cap of 1000" in refused.json()["error"]["message"]
    assert await written(session, program["id"]) == before

    c2 = (await session.exec(select(Grant.id).where(Grant.source == "charge:c2"))).one()
    await client.post(f"/mynapoint/grants/{c2}/revoke", headers=bearer(muni_key))  # before credit: a void
    answer = await redeliver(client, ops_key, failed.id)
    assert answer.status_code == 200, answer.text
    new = await _grant_row(session, answer.json()["grant_id"])
    assert (new.source, new.points, new.status) == (f"redeliver:{old_id}", 1_000, "reserved")
    assert (await written(session, program["id"])).granted == [1_000]
    assert (await post_event(client, provider, charge("c3"))).json()["outcome"] == "ignored: per-person cap reached"
    # Voided in turn, the replacement gives its points back to the cap too.
    await client.post(f"/mynapoint/grants/{new.id}/revoke", headers=bearer(muni_key))
    assert (await post_event(client, provider, charge("c4"))).json()["outcome"].startswith("reserved 1000 points")
    assert await reconcile(session) == []
