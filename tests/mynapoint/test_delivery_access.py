"""Who reads and redelivers outbound deliveries: ops any, a provider key only its own. Another provider's
delivery is a 404 like a missing one (its id is not confirmed), and a provider key's `provider_id` filter cannot
widen its list."""

import httpx
import pytest

from common.models import OutboxEvent
from tests.conftest import bearer, make_key
from tests.mynapoint.builders import FAST, create_provider, error_code, fresh, redeliver, worker


def _ping(client, key: str, provider_id: str):
    return client.post(f"/mynapoint/providers/{provider_id}/ping", headers=bearer(key))


def _deliveries(client, key: str, **filters) -> httpx.Response:
    return client.get("/mynapoint/deliveries", headers=bearer(key), params=filters)


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


@pytest.fixture
async def own_failed(client, ops_key, provider, receiver, receiver_client, db, settings) -> dict:
    """The provider's ping after every attempt failed with a 500."""
    ping = (await _ping(client, ops_key, provider["id"])).json()
    receiver.fail = lambda request: httpx.Response(500)
    for _ in FAST:
        await worker(db, settings, receiver_client).run_once()
    receiver.fail = None
    return ping


@pytest.fixture
async def others_pending(client, ops_key) -> dict:
    """Another provider's ping, not sent yet."""
    other = await create_provider(client, ops_key)
    return (await _ping(client, ops_key, other["id"])).json()


@pytest.fixture
async def provider_key(db, provider) -> str:
    return await make_key(db, "provider", provider_id=provider["id"])


async def test_a_provider_key_lists_only_its_own_deliveries(
    client, ops_key, provider, provider_key, own_failed, others_pending
):
    assert {own_failed["id"], others_pending["id"]} <= _ids(await _deliveries(client, ops_key))
    assert _ids(await _deliveries(client, provider_key)) == {own_failed["id"]}
    assert _ids(await _deliveries(client, provider_key, provider_id=provider["id"])) == {own_failed["id"]}
    assert _ids(await _deliveries(client, provider_key, status="failed")) == {own_failed["id"]}
    assert _ids(await _deliveries(client, provider_key, status="pending")) == set()


async def test_a_provider_key_cannot_widen_its_list_with_another_providers_id(client, provider_key, others_pending):
    for spoofed in (others_pending["provider_id"], "prov_missing"):
        refused = await _deliveries(client, provider_key, provider_id=spoofed)
        assert error_code(refused, 403) == "forbidden"
        assert refused.json()["error"]["field"] == "provider_id"


async def test_a_provider_key_reads_its_own_delivery_and_its_attempts(client, provider_key, own_failed):
    read = await client.get(f"/mynapoint/deliveries/{own_failed['id']}", headers=bearer(provider_key))
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "failed"
    assert [attempt["status_code"] for attempt in read.json()["attempts_made"]] == [500] * len(FAST)


async def test_another_providers_delivery_is_not_found_as_a_missing_one_is(client, provider_key, others_pending):
    for event_id in (others_pending["id"], "evt_missing"):
        missing = await client.get(f"/mynapoint/deliveries/{event_id}", headers=bearer(provider_key))
        assert error_code(missing, 404) == "not_found"
        assert missing.json()["error"]["field"] == "event_id"
        assert missing.json()["error"]["message"] == f"no delivery {event_id}"


async def test_a_provider_key_redelivers_its_own_failed_delivery(client, provider_key, own_failed, session):
    queued = await redeliver(client, provider_key, own_failed["id"])
    assert queued.status_code == 200, queued.text
    assert (queued.json()["id"], queued.json()["status"]) == (own_failed["id"], "pending")
    event = await fresh(session, OutboxEvent, own_failed["id"])
    assert (event.status, event.attempts) == ("pending", 0)


async def test_a_provider_key_cannot_redeliver_another_providers_delivery(
    client, provider_key, others_pending, session
):
    before = await fresh(session, OutboxEvent, others_pending["id"])
    next_attempt = before.next_attempt_at
    refused = await redeliver(client, provider_key, others_pending["id"])
    assert error_code(refused, 404) == "not_found"
    after = await fresh(session, OutboxEvent, others_pending["id"])
    assert (after.status, after.attempts, after.next_attempt_at) == ("pending", 0, next_attempt)


@pytest.mark.parametrize("role", ["municipality", "app"])
async def test_municipality_and_app_keys_are_refused_deliveries(client, db, role, own_failed):
    binding = {"municipality_code": "012092"} if role == "municipality" else {}
    key = await make_key(db, role, **binding)
    assert (await _deliveries(client, key)).status_code == 403
    assert (await client.get(f"/mynapoint/deliveries/{own_failed['id']}", headers=bearer(key))).status_code == 403
    assert (await redeliver(client, key, own_failed["id"])).status_code == 403
