"""Recommendations: ranked, explained, deterministic, and never an ineligible pair."""

import itertools

import pytest

from common.models import Municipality
from tests.harness import bearer
from tests.matching.builders import (
    CHIYODA,
    HIMI,
    NAGOYA,
    OSAKA,
    SAPPORO,
    YUBARI,
    add_adviser,
    add_company,
    add_need,
)

HACHIOJI = "132012"  # in the 三大都市圏, no 過疎


async def recommend(client, headers, market, subject, **params):
    response = await client.get(
        "/matching/recommendations", params={"market": market, "for": subject, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def kigyojin_market(client, ops):
    """Companies whose scores follow from the documented points (see services/matching/scoring.py)."""
    a = await add_company(
        client, ops, "A", CHIYODA, fields=["ict_digital", "tourism"], preferred_prefectures=["01"], track_record=12
    )
    b = await add_company(client, ops, "B", OSAKA, fields=["ict_digital"])
    c = await add_company(client, ops, "C", SAPPORO, fields=["ict_digital", "tourism"])  # not in the 三大都市圏
    d = await add_company(client, ops, "D", NAGOYA, fields=["ict_digital"], dispatch_months=48)  # over 3 years
    e = await add_company(client, ops, "E", NAGOYA, fields=["ict_digital"])
    f = await add_company(client, ops, "F", OSAKA, fields=["ict_digital"])
    await add_need(client, ops, code=YUBARI, fields=["ict_digital", "tourism"], wished_partners=[b["id"]])
    await add_need(client, ops, code=HIMI, fields=["tourism"])
    await add_need(client, ops, code=CHIYODA, fields=["tourism"])  # may not host: 三大都市圏 without 過疎
    return {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f}


async def test_a_municipality_sees_companies_ranked_with_their_score_parts(client, app_key, kigyojin_market):
    m = kigyojin_market
    body = await recommend(client, bearer(app_key), "kigyojin", f"municipality:{YUBARI}")
    by_name = {item["name"]: item for item in body["items"]}
    assert by_name["A"]["score_parts"] == {
        "field_overlap": 50,
        "region": 20,
        "capacity": 10,
        "experience": 10,
        "stated_preferences": 0,
    }
    assert by_name["B"]["score_parts"] == {
        "field_overlap": 25,
        "region": 10,
        "capacity": 10,
        "experience": 0,
        "stated_preferences": 5,
    }
    assert all(item["score"] == sum(item["score_parts"].values()) for item in body["items"])
    tied = sorted([f"company:{m['E']['id']}", f"company:{m['F']['id']}"])
    assert [item["candidate"] for item in body["items"]] == [
        f"company:{m['A']['id']}",
        f"company:{m['B']['id']}",
        *tied,
    ]
    assert by_name["A"]["shared_fields"] == ["ict_digital", "tourism"]


async def test_excluded_candidates_are_explained_on_request(client, app_key, kigyojin_market):
    body = await recommend(client, bearer(app_key), "kigyojin", f"municipality:{YUBARI}", explain="true")
    reasons = {item["name"]: [r["code"] for r in item["reasons"]] for item in body["excluded"]}
    assert reasons == {"C": ["company_outside_three_metro_area"], "D": ["dispatch_period_out_of_range"]}
    messages = {item["name"]: item["reasons"][0]["message"] for item in body["excluded"]}
    assert "「地域活性化起業人」" in messages["C"] and "６ヵ月" in messages["D"]
    assert "excluded" not in await recommend(client, bearer(app_key), "kigyojin", f"municipality:{YUBARI}")


async def test_a_company_sees_eligible_hosts_ranked(client, app_key, kigyojin_market):
    body = await recommend(client, bearer(app_key), "kigyojin", f"company:{kigyojin_market['A']['id']}", explain="true")
    assert [(item["candidate"], item["score"]) for item in body["items"]] == [
        (f"municipality:{YUBARI}", 90),
        (f"municipality:{HIMI}", 70),
    ]
    assert [(e["candidate"], e["reasons"][0]["code"]) for e in body["excluded"]] == [
        (f"municipality:{CHIYODA}", "host_in_three_metro_area")
    ]


async def test_a_metro_municipality_that_declares_a_reason_may_host(client, ops, app_key, kigyojin_market):
    await add_need(client, ops, code=CHIYODA, fields=["tourism"], high_population_decline=True)
    body = await recommend(client, bearer(app_key), "kigyojin", f"municipality:{CHIYODA}")
    assert len(body["items"]) == 4


async def test_the_pair_explanation_endpoint(client, app_key, kigyojin_market):
    async def explain(municipality, company):
        response = await client.get(
            "/matching/eligibility",
            headers=bearer(app_key),
            params={"market": "kigyojin", "municipality": municipality, "partner": f"company:{company['id']}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert (await explain(YUBARI, kigyojin_market["A"]))["eligible"] is True
    both = await explain(CHIYODA, kigyojin_market["C"])
    assert (both["eligible"], [r["code"] for r in both["reasons"]]) == (
        False,
        ["company_outside_three_metro_area", "host_in_three_metro_area"],
    )


async def test_pages_continue_the_same_ranking(client, app_key, kigyojin_market):
    headers = bearer(app_key)
    whole = await recommend(client, headers, "kigyojin", f"municipality:{YUBARI}")
    first = await recommend(client, headers, "kigyojin", f"municipality:{YUBARI}", limit=3)
    rest = await recommend(client, headers, "kigyojin", f"municipality:{YUBARI}", cursor=first["next_cursor"])
    assert first["items"] + rest["items"] == whole["items"] and rest["next_cursor"] is None


async def test_an_adviser_never_serves_where_they_live(client, ops, app_key):
    local = await add_adviser(client, ops, "Local", home=YUBARI)
    outside = await add_adviser(
        client, ops, "Outside", home=SAPPORO, experience_years=4, wished_municipalities=[YUBARI]
    )
    await add_need(client, ops, code=YUBARI, market="advisor", fields=["tourism"])
    body = await recommend(client, bearer(app_key), "advisor", f"municipality:{YUBARI}", explain="true")
    assert [(i["candidate"], i["score"]) for i in body["items"]] == [(f"adviser:{outside['id']}", 50 + 10 + 10 + 4 + 5)]
    assert [(e["candidate"], e["reasons"][0]["code"]) for e in body["excluded"]] == [
        (f"adviser:{local['id']}", "adviser_lives_in_host")
    ]
    mine = await recommend(client, bearer(app_key), "advisor", f"adviser:{local['id']}")
    assert mine["items"] == []


async def test_matches_under_way_use_up_capacity(client, ops, app_key, kigyojin_market):
    a = kigyojin_market["A"]
    match = (
        await client.post(
            "/matching/matches",
            headers=ops,
            json={"market": "kigyojin", "municipality_code": YUBARI, "company_id": a["id"]},
        )
    ).json()
    await client.post(f"/matching/matches/{match['id']}/transitions", json={"to": "accepted"}, headers=ops)
    body = await recommend(client, bearer(app_key), "kigyojin", f"municipality:{HIMI}")
    a_item = next(item for item in body["items"] if item["name"] == "A")
    assert a_item["score_parts"]["capacity"] == 0


@pytest.mark.parametrize(
    "params,status,field",
    [
        ({"market": "kigyojin", "for": "nobody"}, 422, "for"),
        ({"market": "advisor", "for": "company:co_x"}, 422, "for"),
        ({"market": "kigyojin", "for": "company:co_missing"}, 404, "for"),
        ({"market": "kigyojin", "for": "municipality:012093"}, 422, "for"),
        ({"market": "lottery", "for": f"municipality:{YUBARI}"}, 422, "market"),
        ({"market": "kigyojin", "for": f"municipality:{YUBARI}", "fiscal_year": 2019}, 422, "fiscal_year"),
        ({"market": "kigyojin", "for": f"municipality:{YUBARI}", "cursor": "!!"}, 422, "cursor"),
    ],
)
async def test_bad_queries_are_4xx_naming_the_field(client, app_key, params, status, field):
    response = await client.get("/matching/recommendations", params=params, headers=bearer(app_key))
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


# --- an ineligible pair never appears, whichever side asks ------------------------------------------

HEAD_OFFICES = [CHIYODA, OSAKA, NAGOYA, SAPPORO, YUBARI]
HOSTS = [YUBARI, HIMI, CHIYODA, HACHIOJI]


def eligible_by_reference(company_home: Municipality, flag: bool, months: int | None, host: Municipality) -> bool:
    """The rule of subsidy-rules.md § kigyojin restated over the reference table."""
    company_ok = company_home.metro_area is not None or flag
    host_ok = host.metro_area is None or host.kaso_type is not None
    return company_ok and host_ok and (months is None or 6 <= months <= 36)


async def test_no_ineligible_pair_is_ever_recommended(client, ops, app_key, session):
    companies = []
    for i, (home, flag, months) in enumerate(itertools.product(HEAD_OFFICES, (False, True), (None, 3, 24, 40))):
        company = await add_company(
            client, ops, f"Co{i}", home, head_office_function_in_three_metro_area=flag, dispatch_months=months
        )
        companies.append((company, await session.get(Municipality, home), flag, months))
    for code in HOSTS:
        await add_need(client, ops, code=code)
    hosts = {code: await session.get(Municipality, code) for code in HOSTS}

    expected = {
        (host, company["id"])
        for company, home, flag, months in companies
        for host in HOSTS
        if eligible_by_reference(home, flag, months, hosts[host])
    }
    seen = set()
    for code in HOSTS:
        body = await recommend(client, bearer(app_key), "kigyojin", f"municipality:{code}", limit=500)
        seen |= {(code, item["candidate"].split(":")[1]) for item in body["items"]}
    assert seen == expected
    seen_from_companies = set()
    for company, *_ in companies:
        body = await recommend(client, bearer(app_key), "kigyojin", f"company:{company['id']}")
        seen_from_companies |= {(item["candidate"].split(":")[1], company["id"]) for item in body["items"]}
    assert seen_from_companies == expected


async def test_a_company_outside_a_market_gets_no_recommendations_in_it(client, ops, app_key):
    offices_only = await add_company(client, ops, "Offices only", CHIYODA, markets=["satellite_office"])
    response = await client.get(
        "/matching/recommendations",
        headers=bearer(app_key),
        params={"market": "kigyojin", "for": f"company:{offices_only['id']}"},
    )
    assert (response.status_code, response.json()["error"]["field"]) == (422, "for")


async def test_the_registry_index_follows_every_change(client, ops, app_key, kigyojin_market):
    """Recommendations come from an in-memory index of the registry: a new, changed or busier company shows."""

    async def scores():
        body = await recommend(client, bearer(app_key), "kigyojin", f"municipality:{YUBARI}", limit=500)
        return {item["name"]: item["score"] for item in body["items"]}

    before = await scores()
    new = await add_company(client, ops, "New", NAGOYA, fields=["ict_digital", "tourism"])
    assert (await scores())["New"] == 50 + 10 + 10
    patched = await client.patch(f"/matching/companies/{new['id']}", headers=ops, json={"track_record": 7})
    assert patched.status_code == 200
    assert (await scores())["New"] == 50 + 10 + 10 + 7
    offices_only = await client.patch(
        f"/matching/companies/{kigyojin_market['E']['id']}", headers=ops, json={"markets": ["satellite_office"]}
    )
    assert offices_only.status_code == 200
    assert "E" not in await scores() and "E" in before


async def test_a_companys_hosts_follow_every_need_and_match(client, ops, app_key, kigyojin_market):
    """A company's hosts come from the in-memory hosts of the market: a new or closed need, and a match that
    uses up a host's capacity, show at the next query."""
    subject = f"company:{kigyojin_market['B']['id']}"  # ict_digital only

    async def hosts():
        body = await recommend(client, bearer(app_key), "kigyojin", subject, limit=500)
        return {item["candidate"]: item["score_parts"] for item in body["items"]}

    assert f"municipality:{HIMI}" in await hosts() and f"municipality:{NAGOYA}" not in await hosts()
    need = await add_need(client, ops, code=HIMI, fields=["ict_digital"])
    assert (await hosts())[f"municipality:{HIMI}"]["field_overlap"] == 25
    closed = await client.patch(
        f"/matching/municipalities/{HIMI}/needs/{need['id']}", headers=ops, json={"open": False}
    )
    assert closed.status_code == 200, closed.text
    assert (await hosts())[f"municipality:{HIMI}"]["field_overlap"] == 0
    match = (
        await client.post(
            "/matching/matches",
            headers=ops,
            json={"market": "kigyojin", "municipality_code": HIMI, "company_id": kigyojin_market["E"]["id"]},
        )
    ).json()
    assert (await hosts())[f"municipality:{HIMI}"]["capacity"] == 10  # proposed: no place taken yet
    await client.post(f"/matching/matches/{match['id']}/transitions", json={"to": "accepted"}, headers=ops)
    assert (await hosts())[f"municipality:{HIMI}"]["capacity"] == 0
