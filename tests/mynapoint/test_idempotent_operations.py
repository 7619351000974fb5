"""Idempotency-Key on the operations that create or change something besides programs and applications:
provider onboarding, secret rotation, grant revocation and redelivery. Same key and body → the first
response replayed with no second effect; same key, other body → 422."""

from sqlmodel import func, select
from standardwebhooks.webhooks import Webhook

from common.models import OutboxEvent, Provider
from services.mynapoint.main import create_app
from tests.conftest import bearer
from tests.mynapoint.builders import RECEIVER_URL, applied_grant, keyed, post_event, worker

KEYED_OPERATIONS = [
    ("/mynapoint/providers", "post"),
    ("/mynapoint/providers/{provider_id}/rotate-secret", "post"),
    ("/mynapoint/grants/{grant_id}/revoke", "post"),
    ("/mynapoint/deliveries/{event_id}/redeliver", "post"),
]


def test_the_header_is_declared_in_openapi(settings, db):
    paths = create_app(settings=settings, db=db).openapi()["paths"]
    for path, method in KEYED_OPERATIONS:
        headers = [p["name"] for p in paths[path][method].get("parameters", []) if p["in"] == "header"]
        assert "Idempotency-Key" in headers, path


async def test_onboarding_replays_the_same_provider_and_secret(client, ops_key, session):
    body = {"name": "リトライペイ", "webhook_url": RECEIVER_URL}
    first = await client.post("/mynapoint/providers", headers=keyed(ops_key, "onboard-1"), json=body)
    again = await client.post("/mynapoint/providers", headers=keyed(ops_key, "onboard-1"), json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert first.json()["webhook_secret"].startswith("whsec_")
    named = select(func.count()).select_from(Provider).where(Provider.name == "リトライペイ")
    assert (await session.exec(named)).one() == 1
    other = await client.post(
        "/mynapoint/providers", headers=keyed(ops_key, "onboard-1"), json=body | {"name": "別のペイ"}
    )
    assert other.status_code == 422 and other.json()["error"]["field"] == "Idempotency-Key"


async def test_a_replayed_rotation_rotates_once(client, ops_key, provider, session):
    url = f"/mynapoint/providers/{provider['id']}/rotate-secret"
    first = await client.post(url, headers=keyed(ops_key, "rotate-1"), json={"overlap_hours": 24})
    again = await client.post(url, headers=keyed(ops_key, "rotate-1"), json={"overlap_hours": 24})
    assert again.json() == first.json()
    stored = await session.get(Provider, provider["id"])
    await session.refresh(stored)
    # Rotated twice, the original secret would no longer sign during the overlap.
    assert (stored.webhook_secret, stored.previous_webhook_secret) == (
        first.json()["webhook_secret"],
        provider["webhook_secret"],
    )


async def test_a_replayed_revoke_answers_the_same_and_revokes_once(
    client, app_key, muni_key, provider, program, session
):
    grant = await applied_grant(client, app_key, provider, program)
    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    url = f"/mynapoint/grants/{grant['id']}/revoke"
    first = await client.post(url, headers=keyed(muni_key, "revoke-1"))
    again = await client.post(url, headers=keyed(muni_key, "revoke-1"))
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json() and first.json()["status"] == "revoked"
    unkeyed = await client.post(url, headers=bearer(muni_key))
    assert unkeyed.status_code == 422 and unkeyed.json()["error"]["code"] == "grant_resolved"
    revoked = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.event_type == "grant.revoked")
    assert (await session.exec(revoked)).one() == 1


async def test_a_replayed_redeliver_does_not_queue_the_event_again(
    client, app_key, ops_key, provider, program, receiver, receiver_client, db, settings
):
    await applied_grant(client, app_key, provider, program)
    await worker(db, settings, receiver_client).run_once()
    (event_id,) = list(receiver.applied)
    url = f"/mynapoint/deliveries/{event_id}/redeliver"
    first = await client.post(url, headers=keyed(ops_key, "redeliver-1"))
    assert first.status_code == 200 and first.json()["status"] == "pending"
    await worker(db, settings, receiver_client).run_once()
    again = await client.post(url, headers=keyed(ops_key, "redeliver-1"))
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert await worker(db, settings, receiver_client).run_once() == 0  # delivered, not queued a third time
    assert len(receiver.received) == 2
    Webhook(provider["webhook_secret"]).verify(receiver.received[1].content, dict(receiver.received[1].headers))
    missing = await client.post("/mynapoint/deliveries/msg_nope/redeliver", headers=keyed(ops_key, "redeliver-2"))
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "event_id"
