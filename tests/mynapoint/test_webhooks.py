"""Webhooks both ways, checked with the reference standardwebhooks package on the provider's side."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from common.models import Grant, InboundWebhook, LedgerEntry, OutboxEvent, Program, Provider
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer, make_key
from tests.mynapoint.builders import (
    application,
    applied_grant,
    create_provider,
    fixed_program,
    post_event,
    premium_buyer,
    resident,
    signed,
    worker,
)

# --- outbound --------------------------------------------------------------------------------------------


async def test_grant_created_is_delivered_signed_and_verifiable(
    client, app_key, provider, program, receiver, receiver_client, db, settings, session
):
    grant = await applied_grant(client, app_key, provider, program)
    assert await worker(db, settings, receiver_client).run_once() == 1
    (request,) = receiver.received
    payload = Webhook(provider["webhook_secret"]).verify(request.content, dict(request.headers))
    assert payload["type"] == "grant.created"
    assert payload["data"]["grant_id"] == grant["id"] and payload["data"]["points"] == 5_000
    assert payload["data"]["provider_account_id"] == "acct-myki-0001"
    assert "myki" not in json.dumps(payload["data"]).replace("acct-myki-0001", "")  # no resident identity leaks
    event = await session.get(OutboxEvent, request.headers["webhook-id"])
    await session.refresh(event)
    assert (event.status, event.attempts) == ("delivered", 1)
    assert await worker(db, settings, receiver_client).run_once() == 0  # nothing left to send


async def test_failures_retry_then_fail_and_void_the_grant(
    client, app_key, provider, program, receiver, receiver_client, db, settings, session, ops_key
):
    grant = await applied_grant(client, app_key, provider, program)
    receiver.fail = lambda request: httpx.Response(503)
    for _ in range(3):
        await worker(db, settings, receiver_client).run_once()
    assert len(receiver.received) == 3
    failed = (await client.get("/mynapoint/deliveries?status=failed", headers=bearer(ops_key))).json()["items"]
    assert [(d["event_type"], d["attempts"], d["last_status_code"]) for d in failed] == [("grant.created", 3, 503)]
    stored = await session.get(Grant, grant["id"])
    await session.refresh(stored)
    assert stored.status == "voided"
    budget = await session.get(Program, program["id"])
    await session.refresh(budget)
    assert budget.reserved_yen == 0
    assert await reconcile(session) == []

    # Redelivered, the voided grant is reserved again as a new grant, and that grant's grant.created is sent.
    receiver.fail = None
    redelivered = await client.post(f"/mynapoint/deliveries/{failed[0]['id']}/redeliver", headers=bearer(ops_key))
    assert redelivered.status_code == 200, redelivered.text
    new = redelivered.json()
    assert (new["event_type"], new["status"]) == ("grant.created", "pending")
    assert new["id"] != failed[0]["id"] and new["grant_id"] not in (None, grant["id"])
    await worker(db, settings, receiver_client).run_once()
    # A 503 may come after the provider stored the event: the old grant is withdrawn as the new one is offered.
    assert {(e["type"], e["data"]["grant_id"]) for e in map(json.loads, receiver.applied.values())} == {
        ("grant.revoked", grant["id"]),
        ("grant.created", new["grant_id"]),
    }
    assert await reconcile(session) == []


async def test_retry_after_is_honoured_and_410_disables_the_endpoint(
    client, app_key, provider, program, receiver, receiver_client, db, settings, session
):
    await applied_grant(client, app_key, provider, program)
    receiver.fail = lambda request: httpx.Response(429, headers={"Retry-After": "120"})
    await worker(db, settings, receiver_client, schedule=(0, 5, 5)).run_once()
    (event,) = (await session.exec(select(OutboxEvent))).all()
    await session.refresh(event)
    wait = event.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(seconds=100) < wait <= timedelta(seconds=120)
    assert await worker(db, settings, receiver_client).run_once() == 0  # not due yet

    event.next_attempt_at = datetime.now(UTC)
    session.add(event)
    await session.commit()
    receiver.fail = lambda request: httpx.Response(410)
    await worker(db, settings, receiver_client).run_once()
    await session.refresh(event)
    assert event.status == "failed"
    stored = await session.get(Provider, provider["id"])
    await session.refresh(stored)
    assert stored.webhook_disabled_at is not None
    # Later events for a disabled endpoint are not sent.
    await applied_grant(client, app_key, provider, program, "myki-0002")
    sent = len(receiver.received)
    await worker(db, settings, receiver_client).run_once()
    assert len(receiver.received) == sent


async def test_rotation_sends_both_signatures_during_the_overlap(
    client, ops_key, app_key, provider, program, receiver, receiver_client, db, settings
):
    old = provider["webhook_secret"]
    rotated = await client.post(
        f"/mynapoint/providers/{provider['id']}/rotate-secret", headers=bearer(ops_key), json={"overlap_hours": 24}
    )
    new = rotated.json()["webhook_secret"]
    assert new != old
    receiver.secret = new
    await applied_grant(client, app_key, provider, program)
    await worker(db, settings, receiver_client).run_once()
    (request,) = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.content, dict(request.headers))  # a provider not yet switched still verifies


async def test_a_private_webhook_url_is_refused_in_production_mode(client, ops_key, settings):
    from common.errors import Unprocessable
    from services.mynapoint import signing

    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.0.0.8/hook", "ftp://x/y"):
        try:
            await signing.check_webhook_url(url, allow_insecure=False)
        except Unprocessable as exc:
            assert exc.field == "webhook_url"
        else:
            raise AssertionError(f"{url} was accepted")
    await signing.check_webhook_url("https://8.8.8.8/hook", allow_insecure=False)


# --- inbound ---------------------------------------------------------------------------------------------


async def test_grant_credited_posts_the_reservation_once(client, app_key, provider, program, session):
    grant = await applied_grant(client, app_key, provider, program)
    event = {"type": "grant.credited", "timestamp": datetime.now(UTC).isoformat(), "data": {"grant_id": grant["id"]}}
    body, headers = signed(provider["webhook_secret"], event)
    first = await client.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["outcome"] == "posted"
    again = await client.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # The same fact under a new webhook-id has no second effect either.
    retold = await post_event(client, provider, event)
    assert retold.json()["outcome"].startswith("ignored")
    stored = await session.get(Program, program["id"])
    await session.refresh(stored)
    assert (stored.reserved_yen, stored.posted_yen) == (0, 5_000)
    assert await reconcile(session) == []


async def test_grant_credited_names_what_it_did_not_post_and_moves_nothing(
    client, ops_key, app_key, provider, program, session
):
    grant = await applied_grant(client, app_key, provider, program)
    other = await create_provider(client, ops_key)
    foreign = await post_event(client, other, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    unknown = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": "gr_unknown"}})
    assert [foreign.json()["outcome"], unknown.json()["outcome"]] == ["rejected: no such grant for this provider"] * 2
    stored = await session.get(Program, program["id"])
    await session.refresh(stored)
    assert (stored.reserved_yen, stored.posted_yen) == (5_000, 0)
    recorded = await session.exec(select(InboundWebhook.outcome).where(InboundWebhook.provider_id == other["id"]))
    assert recorded.all() == ["rejected: no such grant for this provider"]
    credited = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    assert credited.json()["outcome"] == "posted"
    posts = await session.exec(
        select(LedgerEntry.kind, LedgerEntry.reserved_delta, LedgerEntry.posted_delta, LedgerEntry.provider_id).where(
            LedgerEntry.grant_id == grant["id"]
        )
    )
    assert sorted(posts.all()) == [("post", -5_000, 5_000, provider["id"]), ("reserve", 5_000, 0, provider["id"])]
    assert await reconcile(session) == []


async def test_the_ledger_refuses_a_second_movement_of_one_kind_for_a_grant(
    client, app_key, provider, program, session
):
    grant = await applied_grant(client, app_key, provider, program)
    session.add(
        LedgerEntry(
            program_id=program["id"],
            grant_id=grant["id"],
            provider_id=provider["id"],
            kind="reserve",
            reserved_delta=5_000,
        )
    )
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_bad_signatures_are_refused_with_no_effect(client, app_key, provider, program, session):
    grant = await applied_grant(client, app_key, provider, program)
    event = {"type": "grant.credited", "data": {"grant_id": grant["id"]}}
    url = f"/webhooks/providers/{provider['id']}"
    body, headers = signed(provider["webhook_secret"], event)
    tampered = body.replace(grant["id"].encode(), b"gr_00000000000000000000")
    wrong_secret = signed("whsec_" + "A" * 44, event)
    stale = signed(provider["webhook_secret"], event, at=datetime.now(UTC) - timedelta(minutes=6))
    future = signed(provider["webhook_secret"], event, at=datetime.now(UTC) + timedelta(minutes=6))
    garbled = headers | {"webhook-signature": "v1"}
    for content, sent in [(tampered, headers), wrong_secret, stale, future, (body, garbled)]:
        response = await client.post(url, content=content, headers=sent)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "bad_signature"
    # Re-serialised JSON (other spacing) is not what was signed.
    respaced = json.dumps(json.loads(body), indent=2).encode()
    assert (await client.post(url, content=respaced, headers=headers)).status_code == 401
    assert (await session.exec(select(InboundWebhook))).all() == []
    stored = await session.get(Grant, grant["id"])
    await session.refresh(stored)
    assert stored.status == "reserved"


async def test_unknown_event_types_are_recorded_and_acknowledged(client, provider, session):
    answer = await post_event(client, provider, {"type": "account.renamed", "data": {}}, msg_id="msg_unknown_1")
    assert answer.status_code == 200 and answer.json()["outcome"] == "recorded: unknown event type"
    (record,) = (await session.exec(select(InboundWebhook))).all()
    assert (record.webhook_id, record.event_type) == ("msg_unknown_1", "account.renamed")


async def test_charges_make_premium_grants_up_to_the_cap(client, app_key, muni_key, provider, session):
    body = fixed_program(provider["id"], kind="premium", premium_rate="1/4", per_person_cap=5_000, budget=1_000_000)
    body.pop("points_per_person")
    program = (await client.post("/mynapoint/programs", headers=bearer(muni_key), json=body)).json()
    await client.post(
        f"/mynapoint/programs/{program['id']}/roster",
        headers=bearer(muni_key),
        json={"residents": [resident("buyer-1")]},
    )
    applied = await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], "buyer-1"),
    )
    assert applied.json()["eligible"] is True and applied.json()["grant"] is None

    def charge(charge_id: str, amount: int) -> dict:
        return {
            "type": "charge.completed",
            "data": {
                "charge_id": charge_id,
                "program_id": program["id"],
                "provider_account_id": "acct-buyer-1",
                "amount_yen": amount,
            },
        }

    outcomes = [
        (await post_event(client, provider, charge(cid, amount))).json()["outcome"]
        for cid, amount in [("c1", 10_003), ("c1", 10_003), ("c2", 9_999), ("c3", 8_000), ("c4", 100)]
    ]
    assert outcomes[0].startswith("reserved 2500 points")  # floor(10,003 × 1/4)
    assert outcomes[1] == "ignored: charge already granted"
    assert outcomes[2].startswith("reserved 2499 points")
    assert outcomes[3].startswith("reserved 1 points")  # only 1 point of the 5,000 cap was left
    assert outcomes[4] == "ignored: per-person cap reached"
    points = (await session.exec(select(Grant.points).where(Grant.program_id == program["id"]))).all()
    assert sum(points) == 5_000
    assert await reconcile(session) == []


async def test_revoking_a_credited_grant_is_a_compensating_entry(
    client, app_key, muni_key, provider, program, session, db
):
    grant = await applied_grant(client, app_key, provider, program)
    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    revoked = await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(muni_key))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(muni_key))
    assert again.status_code == 422 and again.json()["error"]["code"] == "grant_resolved"
    provider_key = await make_key(db, "provider", provider_id=provider["id"])
    assert (
        await client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(provider_key))
    ).status_code == 403
    stored = await session.get(Program, program["id"])
    await session.refresh(stored)
    assert (stored.reserved_yen, stored.posted_yen, stored.budget_yen) == (0, 0, 50_000)
    types = (await session.exec(select(OutboxEvent.event_type).order_by(OutboxEvent.created_at))).all()
    assert types == ["grant.created", "grant.revoked"]
    assert await reconcile(session) == []


async def test_an_expired_reservation_is_voided_and_frees_the_budget(
    client, app_key, provider, program, db, settings, receiver_client, session
):
    grant = await applied_grant(client, app_key, provider, program)
    stored = await session.get(Grant, grant["id"])
    stored.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    session.add(stored)
    await session.commit()
    assert await worker(db, settings, receiver_client).sweep_expired_reservations() == 1
    await session.refresh(stored)
    budget = await session.get(Program, program["id"])
    await session.refresh(budget)
    assert (stored.status, budget.reserved_yen) == ("voided", 0)
    # A late grant.credited cannot resurrect it.
    late = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    assert late.json()["outcome"] == "ignored: grant already voided"
    assert await reconcile(session) == []


async def test_a_voided_premium_grant_gives_its_points_back_to_the_cap(
    client, app_key, muni_key, provider, ops_key, session
):
    program, charge = await premium_buyer(client, app_key, muni_key, provider, "buyer-2", cap=1_000, charge_yen=4_000)
    await post_event(client, provider, charge("c1"))
    assert (await post_event(client, provider, charge("c2"))).json()["outcome"] == "ignored: per-person cap reached"
    (grant_id,) = (await session.exec(select(Grant.id).where(Grant.program_id == program["id"]))).all()
    await client.post(f"/mynapoint/grants/{grant_id}/revoke", headers=bearer(muni_key))  # before credit: a void
    assert (await post_event(client, provider, charge("c3"))).json()["outcome"].startswith("reserved 1000 points")
    assert await reconcile(session) == []


async def test_revoking_a_credited_premium_grant_gives_its_points_back_to_the_cap(
    client, app_key, muni_key, provider, session
):
    program, charge = await premium_buyer(client, app_key, muni_key, provider, "buyer-3", cap=5_000, charge_yen=20_000)
    assert (await post_event(client, provider, charge("c1"))).json()["outcome"].startswith("reserved 5000 points")
    (grant_id,) = (await session.exec(select(Grant.id).where(Grant.program_id == program["id"]))).all()
    credited = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant_id}})
    assert credited.json()["outcome"] == "posted"
    assert (await post_event(client, provider, charge("c2"))).json()["outcome"] == "ignored: per-person cap reached"
    revoked = await client.post(f"/mynapoint/grants/{grant_id}/revoke", headers=bearer(muni_key))
    assert revoked.json()["status"] == "revoked"  # after credit: a compensating entry, and the cap is freed
    assert (await post_event(client, provider, charge("c3"))).json()["outcome"].startswith("reserved 5000 points")
    assert (await post_event(client, provider, charge("c4"))).json()["outcome"] == "ignored: per-person cap reached"
    assert await reconcile(session) == []


@hypothesis_settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=30_000), min_size=1, max_size=6),
    cap=st.integers(min_value=1, max_value=8_000),
)
async def test_premium_grants_never_exceed_the_cap(client, app_key, muni_key, provider, session, amounts, cap):
    body = fixed_program(provider["id"], kind="premium", premium_rate="1/4", per_person_cap=cap, budget=10_000_000)
    body.pop("points_per_person")
    program = (await client.post("/mynapoint/programs", headers=bearer(muni_key), json=body)).json()
    await client.post(
        f"/mynapoint/programs/{program['id']}/roster",
        headers=bearer(muni_key),
        json={"residents": [resident("buyer-h")]},
    )
    await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], "buyer-h"),
    )
    for n, amount in enumerate(amounts):
        await post_event(
            client,
            provider,
            {
                "type": "charge.completed",
                "data": {
                    "charge_id": f"h{n}",
                    "program_id": program["id"],
                    "provider_account_id": "acct-buyer-h",
                    "amount_yen": amount,
                },
            },
        )
    points = (await session.exec(select(Grant.points).where(Grant.program_id == program["id"]))).all()
    assert sum(points) == min(cap, sum(amount // 4 for amount in amounts))
    assert all(p > 0 for p in points)
