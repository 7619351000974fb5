"""The journeys of issue 13, through the gateway and only its public endpoints: an officer runs a program, a
resident app applies and asks where the points are, a provider tests its endpoint and recovers what failed."""

from datetime import UTC, datetime

import httpx

from tests.conftest import bearer, make_key
from tests.mynapoint.builders import (
    MUNICIPALITY,
    application,
    create_provider,
    credited,
    error_code,
    post_event,
    window,
    worker,
)

TEMPLATE = "mynapoint-2-health-insurance"  # 7,500 points each; cards applied for by 28 Feb 2023


def roster(*myki_ids: str, card_applied_on: str = "2022-11-15") -> dict:
    return {"residents": [{"myki_id": myki_id, "card_applied_on": card_applied_on} for myki_id in myki_ids]}


async def drain(sender) -> None:
    while await sender.run_once():
        pass


async def start_program(client, muni: dict, provider_id: str, myki_ids: list[str]) -> dict:
    """The officer's first steps: a program from the template (in a window open now), its roster and a budget."""
    created = await client.post(
        "/mynapoint/programs",
        headers=muni,
        json={
            "municipality_code": MUNICIPALITY,
            "name": "夕張市 保険証ポイント",
            "template": TEMPLATE,
            "budget_yen": 0,
            "provider_ids": [provider_id],
            **window(),
        },
    )
    assert created.status_code == 201, created.text
    program = created.json()
    assert program["eligibility"] == {"card_applied_by": "2023-02-28"} and program["points_per_person"] == 7500
    uploaded = await client.post(f"/mynapoint/programs/{program['id']}/roster", headers=muni, json=roster(*myki_ids))
    assert uploaded.json() == {"upserted": len(myki_ids), "errors": []}
    funded = await client.post(
        f"/mynapoint/programs/{program['id']}/funding", headers=muni, json={"amount_yen": 7500 * len(myki_ids)}
    )
    assert funded.json()["budget_yen"] == 7500 * len(myki_ids)
    return program


async def test_an_officer_runs_a_program(client, muni_key, app_key, provider):
    muni, app = bearer(muni_key), bearer(app_key)
    program = await start_program(client, muni, provider["id"], ["jour-1", "jour-2"])
    path = f"/mynapoint/programs/{program['id']}"

    listed = await client.get("/mynapoint/programs", headers=muni, params={"status": "open"})
    assert program["id"] in [item["id"] for item in listed.json()["items"]]
    assert {item["municipality_code"] for item in listed.json()["items"]} == {MUNICIPALITY}

    paused = await client.patch(path, headers=muni, json={"status": "paused"})
    assert paused.json()["status"] == "paused"
    refused = await client.post(f"{path}/applications", headers=app, json=application(provider["id"], "jour-1"))
    assert error_code(refused, 409) == "program_paused"
    assert program["id"] not in [
        p["id"]
        for p in (await client.get("/mynapoint/programs", headers=muni, params={"status": "open"})).json()["items"]
    ]
    resumed = await client.patch(path, headers=muni, json={"status": "open", "name": "夕張市 保険証ポイント（再開）"})
    assert resumed.json()["status"] == "open"

    applied = await client.post(f"{path}/applications", headers=app, json=application(provider["id"], "jour-1"))
    assert applied.json()["grant"]["points"] == 7500
    applications = (await client.get(f"{path}/applications", headers=muni)).json()
    assert [(item["id"], item["status"]) for item in applications["items"]] == [
        (applied.json()["application_id"], "active")
    ]
    assert "myki_hash" not in applications["items"][0]

    changes = (await client.get(f"{path}/changes", headers=muni)).json()["items"]
    renamed = "夕張市 保険証ポイント（再開）"
    assert [(change["before"], change["after"]) for change in changes] == [
        ({"status": "open"}, {"status": "paused"}),
        ({"status": "paused", "name": "夕張市 保険証ポイント"}, {"status": "open", "name": renamed}),
    ]
    assert changes[0]["actor"] == f"municipality:{MUNICIPALITY}"
    assert changes[0]["request_id"] == paused.headers["x-request-id"]


async def test_a_program_refuses_to_close_in_the_past_and_keeps_to_its_card_deadline(
    client, muni_key, app_key, provider
):
    muni, app = bearer(muni_key), bearer(app_key)
    program = await start_program(client, muni, provider["id"], ["early-1"])
    path = f"/mynapoint/programs/{program['id']}"
    moved = await client.patch(path, headers=muni, json={"closes_at": "2020-01-01T00:00:00+09:00"})
    assert moved.status_code == 422 and moved.json()["error"]["field"] == "closes_at"

    await client.post(f"{path}/roster", headers=muni, json=roster("late-1", card_applied_on="2023-03-01"))
    late = (await client.post(f"{path}/applications", headers=app, json=application(provider["id"], "late-1"))).json()
    assert (late["eligible"], [r["code"] for r in late["reasons"]]) == (False, ["card_applied_too_late"])
    entries = (await client.get(f"{path}/roster", headers=muni)).json()["items"]
    assert sorted(entry["card_applied_on"] for entry in entries) == ["2022-11-15", "2023-03-01"]
    assert not any("myki" in key for entry in entries for key in entry)


async def test_a_resident_app_applies_then_asks_where_the_points_are(
    client, muni_key, app_key, provider, db, settings, receiver_client
):
    app = bearer(app_key)
    program = await start_program(client, bearer(muni_key), provider["id"], ["res-1"])
    status_path = f"/mynapoint/programs/{program['id']}/status"

    before = (await client.post(status_path, headers=app, json={"myki_id": "res-1"})).json()
    assert (before["eligible"], [r["code"] for r in before["reasons"]]) == (True, ["not_applied"])
    stranger = (await client.post(status_path, headers=app, json={"myki_id": "nobody"})).json()
    assert (stranger["on_roster"], stranger["eligible"], [r["code"] for r in stranger["reasons"]]) == (
        False,
        False,
        ["not_on_roster"],
    )

    applied = await client.post(
        f"/mynapoint/programs/{program['id']}/applications", headers=app, json=application(provider["id"], "res-1")
    )
    grant_id = applied.json()["grant"]["id"]
    waiting = (await client.post(status_path, headers=app, json={"myki_id": "res-1"})).json()
    assert waiting["application"]["id"] == applied.json()["application_id"]
    assert [(g["id"], g["status"], g["reason"]["code"]) for g in waiting["grants"]] == [
        (grant_id, "reserved", "awaiting_credit")
    ]

    await drain(worker(db, settings, receiver_client))
    assert (await post_event(client, provider, credited(grant_id))).status_code == 200
    done = (await client.post(status_path, headers=app, json={"myki_id": "res-1"})).json()
    assert [(g["status"], g["reason"]["code"]) for g in done["grants"]] == [("posted", "credited")]


async def test_a_provider_pings_itself_and_recovers_what_failed_with_one_call(
    client, muni_key, app_key, provider, receiver, db, settings, receiver_client, ops_key
):
    own = bearer(await make_key(db, "provider", provider_id=provider["id"]))
    catalogue = (await client.get("/mynapoint/event-types", headers=own)).json()["items"]
    assert {"grant.created", "grant.revoked", "ping"} <= {e["type"] for e in catalogue if e["direction"] == "outbound"}

    sender = worker(db, settings, receiver_client)
    pinged = await client.post(f"/mynapoint/providers/{provider['id']}/ping", headers=own)
    assert pinged.status_code == 202 and pinged.json()["event_type"] == "ping"
    await drain(sender)
    delivery = (await client.get(f"/mynapoint/deliveries/{pinged.json()['id']}", headers=bearer(ops_key))).json()
    assert delivery["status"] == "delivered"
    assert [(a["status_code"], a["error"]) for a in delivery["attempts_made"]] == [(204, None)]

    since = datetime.now(UTC).isoformat()
    program = await start_program(client, bearer(muni_key), provider["id"], ["prov-1", "prov-2"])
    receiver.fail = lambda _request: httpx.Response(503)  # the endpoint is down
    for myki_id in ("prov-1", "prov-2"):
        await client.post(
            f"/mynapoint/programs/{program['id']}/applications",
            headers=bearer(app_key),
            json=application(provider["id"], myki_id),
        )
    await drain(sender)
    failed = (
        await client.get(
            "/mynapoint/deliveries",
            headers=bearer(ops_key),
            params={"provider_id": provider["id"], "program_id": program["id"], "status": "failed"},
        )
    ).json()["items"]
    # Each grant.created failed after three attempts and voided its grant; a 503 may have come after the provider
    # stored it, so the provider is told grant.revoked, which failed too.
    assert sorted(event["event_type"] for event in failed) == ["grant.created"] * 2 + ["grant.revoked"] * 2
    assert all(event["attempts"] == 3 for event in failed)

    receiver.fail = None  # the endpoint is back
    recovered = await client.post(f"/mynapoint/providers/{provider['id']}/recover", headers=own, json={"since": since})
    assert (recovered.json()["queued"], recovered.json()["skipped"]) == (4, [])
    await drain(sender)
    again = await client.post(f"/mynapoint/providers/{provider['id']}/recover", headers=own, json={"since": since})
    assert again.json()["queued"] == 0  # the failed events were redelivered once; nothing is queued twice
    grants = (await client.get("/mynapoint/grants", headers=own, params={"program": program["id"]})).json()["items"]
    assert sorted(grant["status"] for grant in grants) == ["reserved", "reserved", "voided", "voided"]
    delivered = (
        await client.get(
            "/mynapoint/deliveries",
            headers=bearer(ops_key),
            params={"provider_id": provider["id"], "event_type": "grant.created", "status": "delivered"},
        )
    ).json()["items"]
    assert len(delivered) == 2


async def test_a_provider_key_sees_only_its_own_provider(client, provider, db, ops_key):
    someone_else = await create_provider(client, ops_key)
    other = bearer(await make_key(db, "provider", provider_id=someone_else["id"]))
    assert (await client.get(f"/mynapoint/providers/{provider['id']}", headers=other)).status_code == 404
    assert (await client.post(f"/mynapoint/providers/{provider['id']}/ping", headers=other)).status_code == 404
