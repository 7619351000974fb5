"""A provider's endpoint after onboarding: a new URL, and deliveries again after a 410 disabled it."""

import json

import httpx
from sqlmodel import select

from common.models import Grant, Provider
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer
from tests.mynapoint.builders import applied_grant, error_code, failed_event_of, redeliver, worker, written

NEW_URL = "http://provider.test/webhooks/v2"


def _change(client, ops_key: str, provider_id: str, body: dict) -> httpx.Response:
    return client.patch(f"/mynapoint/providers/{provider_id}", headers=bearer(ops_key), json=body)


def _enable(client, ops_key: str, provider_id: str) -> httpx.Response:
    return client.post(f"/mynapoint/providers/{provider_id}/enable-webhooks", headers=bearer(ops_key))


async def test_an_endpoint_a_410_disabled_takes_deliveries_again_once_enabled(
    client, ops_key, app_key, provider, program, receiver, receiver_client, db, settings, session
):
    voided = await applied_grant(client, app_key, provider, program)
    receiver.fail = lambda request: httpx.Response(410)
    await worker(db, settings, receiver_client).run_once()
    failed = await failed_event_of(session, voided["id"])

    before = await written(session, program["id"])
    assert error_code(await redeliver(client, ops_key, failed.id), 422) == "endpoint_disabled"
    assert await written(session, program["id"]) == before

    receiver.fail = None
    changed = await _change(client, ops_key, provider["id"], {"webhook_url": NEW_URL})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["webhook_url"], changed.json()["name"]) == (NEW_URL, provider["name"])
    assert changed.json()["webhook_disabled_at"] is not None  # a new URL does not enable the endpoint by itself
    enabled = await _enable(client, ops_key, provider["id"])
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["webhook_disabled_at"] is None

    replacement = (await redeliver(client, ops_key, failed.id)).json()
    sent = len(receiver.received)
    # The replacement's grant.created, and the old grant's grant.revoked (the 410 came from a provider that
    # received the request), both to the new URL.
    assert await worker(db, settings, receiver_client).run_once() == 2
    requests = receiver.received[sent:]
    assert {str(request.url) for request in requests} == {NEW_URL}
    assert {(json.loads(r.content)["type"], json.loads(r.content)["data"]["grant_id"]) for r in requests} == {
        ("grant.created", replacement["grant_id"]),
        ("grant.revoked", voided["id"]),
    }
    grant = (await session.exec(select(Grant).where(Grant.id == replacement["grant_id"]))).one()
    assert grant.status == "reserved"
    assert await reconcile(session) == []


async def test_changing_a_provider_checks_what_it_is_given(client, ops_key, app_key, provider, session):
    refused = await _change(client, ops_key, provider["id"], {"webhook_url": "ftp://provider.test/x"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "webhook_url", refused.text
    emptied = await _change(client, ops_key, provider["id"], {"webhook_url": None})
    assert emptied.status_code == 422 and emptied.json()["error"]["field"] == "webhook_url", emptied.text
    unknown = await _change(client, ops_key, provider["id"], {"colour": "blue"})
    assert unknown.status_code == 422, unknown.text

    renamed = await _change(client, ops_key, provider["id"], {"name": "テストペイ2"})
    assert renamed.status_code == 200, renamed.text
    stored = (
        await session.exec(
            select(Provider).where(Provider.id == provider["id"]).execution_options(populate_existing=True)
        )
    ).one()
    assert (stored.name, stored.webhook_url) == ("テストペイ2", provider["webhook_url"])

    assert (await _change(client, app_key, provider["id"], {"name": "x"})).status_code == 403
    assert (await _change(client, ops_key, "prov_missing", {"name": "x"})).status_code == 404
    assert (await _enable(client, ops_key, "prov_missing")).status_code == 404
