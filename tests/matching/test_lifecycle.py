"""The lifecycle of a match: only its parties move it, illegal moves are 409, every move is recorded."""

import pytest

from tests.harness import bearer
from tests.matching.builders import CHIYODA, SAPPORO, YUBARI, add_company, move, propose


@pytest.fixture
async def company(client, ops) -> dict:
    return await add_company(client, ops, "Tokyo Digital", CHIYODA)


async def test_the_full_path_is_recorded_with_who_when_and_request_id(client, ops, ops_key, yubari, company):
    match = await propose(client, yubari, company)
    assert (match["status"], match["allowed_transitions"]) == ("proposed", ["accepted", "declined", "withdrawn"])
    steps = [("accepted", ops), ("agreement_signed", yubari), ("active", yubari), ("completed", ops)]
    for number, (to, headers) in enumerate(steps):
        response = await move(client, headers, match, to, request_id=f"req-{number}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to

    history = (await client.get(f"/matching/matches/{match['id']}", headers=yubari)).json()["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "proposed"),
        ("proposed", "accepted"),
        ("accepted", "agreement_signed"),
        ("agreement_signed", "active"),
        ("active", "completed"),
    ]
    assert [h["actor"] for h in history] == [
        f"municipality:{YUBARI}",
        "ops",
        f"municipality:{YUBARI}",
        f"municipality:{YUBARI}",
        "ops",
    ]
    assert [h["request_id"] for h in history[1:]] == ["req-0", "req-1", "req-2", "req-3"]
    assert history[1]["actor_key_id"] == ops_key.split("_")[1]
    assert all(h["at"] for h in history)


@pytest.mark.parametrize(
    "path,to",
    [
        ([], "active"),  # cannot skip the agreement
        (["declined"], "accepted"),  # declined is final
        (["accepted"], "declined"),  # only a proposal can be declined
        (["accepted", "agreement_signed", "active", "completed"], "withdrawn"),
    ],
)
async def test_illegal_transitions_are_409_listing_the_allowed_ones(client, ops, company, path, to):
    match = await propose(client, ops, company)
    for step in path:
        assert (await move(client, ops, match, step)).status_code == 200
    response = await move(client, ops, match, to)
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("illegal_transition", "to")
    current = (await client.get(f"/matching/matches/{match['id']}", headers=ops)).json()
    assert current["status"] == (path[-1] if path else "proposed")
    for allowed in current["allowed_transitions"]:
        assert allowed in error["message"]
    assert len(current["history"]) == len(path) + 1  # a refused move leaves no trace


async def test_only_the_parties_or_ops_see_and_move_a_match(client, yubari, himi, app_key, company):
    match = await propose(client, yubari, company)
    for headers in (himi, bearer(app_key)):
        assert (await move(client, headers, match, "accepted")).status_code == 403
        assert (await client.get(f"/matching/matches/{match['id']}", headers=headers)).status_code == 403
    assert (await client.get(f"/matching/matches/{match['id']}", headers=yubari)).json()["status"] == "proposed"


async def test_a_municipality_cannot_propose_for_another(client, himi, company):
    response = await client.post(
        "/matching/matches",
        headers=himi,
        json={"market": "kigyojin", "municipality_code": YUBARI, "company_id": company["id"]},
    )
    assert response.status_code == 403


async def test_an_ineligible_pair_cannot_be_proposed(client, ops, company):
    sapporo_company = await add_company(client, ops, "Sapporo Co", SAPPORO)
    for code, partner, reason in ((YUBARI, sapporo_company, "三大都市圏"), (CHIYODA, company, "千代田区")):
        response = await client.post(
            "/matching/matches",
            headers=ops,
            json={"market": "kigyojin", "municipality_code": code, "company_id": partner["id"]},
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("ineligible_pair", "company_id")
        assert reason in error["message"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"market": "advisor", "municipality_code": YUBARI, "company_id": "co_x"}, "adviser_id"),
        ({"market": "kigyojin", "municipality_code": YUBARI}, "company_id"),
        ({"market": "kigyojin", "municipality_code": YUBARI, "company_id": "co_missing"}, "company_id"),
        ({"market": "kigyojin", "municipality_code": YUBARI, "company_id": "x", "need_id": "need_missing"}, "need_id"),
    ],
)
async def test_bad_proposals_are_4xx_naming_the_field(client, ops, company, body, field):
    if body.get("company_id") == "x":
        body = {**body, "company_id": company["id"]}
    response = await client.post("/matching/matches", headers=ops, json=body)
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["field"] == field


async def test_a_municipality_lists_only_its_own_matches(client, ops, yubari, himi, company):
    mine = await propose(client, yubari, company)
    await propose(client, ops, company, code="162051")
    listed = (await client.get("/matching/matches", headers=yubari)).json()["items"]
    assert [m["id"] for m in listed] == [mine["id"]]
    assert len((await client.get("/matching/matches", headers=ops)).json()["items"]) == 2


async def test_a_pair_has_one_live_match_until_it_ends(client, ops, yubari, company):
    first = await propose(client, yubari, company)
    again = await client.post(
        "/matching/matches",
        headers=yubari,
        json={"market": "kigyojin", "municipality_code": YUBARI, "company_id": company["id"]},
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "match_exists")
    assert first["id"] in again.json()["error"]["message"]
    other_market = await client.post(
        "/matching/matches",
        headers=yubari,
        json={"market": "satellite_office", "municipality_code": YUBARI, "company_id": company["id"]},
    )
    assert other_market.status_code == 201, other_market.text  # a satellite office is another relationship
    assert (await move(client, yubari, first, "declined")).status_code == 200
    assert (await propose(client, yubari, company))["status"] == "proposed"
