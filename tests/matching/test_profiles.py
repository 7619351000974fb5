"""Profiles: needs with tenancy, the company and adviser registry, validation, filters and pagination."""

import pytest

from tests.harness import bearer
from tests.matching.builders import CHIYODA, HIMI, OSAKA, SAPPORO, YUBARI, add_adviser, add_company, add_need


async def test_a_municipality_posts_and_edits_its_own_need(client, yubari):
    need = await add_need(client, yubari, fields=["tourism", "ict_digital"], capacity=2, dispatch_months=12)
    assert (need["municipality_code"], need["fields"], need["capacity"]) == (YUBARI, ["tourism", "ict_digital"], 2)

    patched = await client.patch(
        f"/matching/municipalities/{YUBARI}/needs/{need['id']}", json={"title": "観光DX", "open": False}, headers=yubari
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["open"], patched.json()["fields"]) == (
        "観光DX",
        False,
        ["tourism", "ict_digital"],
    )
    read = await client.get(f"/matching/municipalities/{YUBARI}/needs/{need['id']}", headers=yubari)
    assert read.json()["title"] == "観光DX"
    elsewhere = await client.get(f"/matching/municipalities/{HIMI}/needs/{need['id']}", headers=yubari)
    assert (elsewhere.status_code, elsewhere.json()["error"]["field"]) == (404, "need_id")


async def test_a_municipality_cannot_write_another_municipalitys_needs(client, yubari, himi):
    response = await client.post(
        f"/matching/municipalities/{HIMI}/needs", json={"market": "kigyojin", "title": "x"}, headers=yubari
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_party"

    need = await add_need(client, himi, code=HIMI)
    response = await client.patch(
        f"/matching/municipalities/{HIMI}/needs/{need['id']}", json={"title": "y"}, headers=yubari
    )
    assert response.status_code == 403


async def test_ops_may_post_for_any_municipality_and_apps_may_not(client, ops, app_key):
    assert (await add_need(client, ops, code=HIMI))["municipality_code"] == HIMI
    response = await client.post(
        f"/matching/municipalities/{HIMI}/needs", json={"market": "kigyojin", "title": "x"}, headers=bearer(app_key)
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body,field",
    [
        ({"market": "kigyojin", "title": "x", "fields": ["tourism", "astrology"]}, "fields"),
        ({"market": "kigyojin", "title": "x", "dispatch_months": 48}, "dispatch_months"),  # 6 months – 3 years
        ({"market": "kigyojin", "title": "x", "dispatch_months": 5}, "dispatch_months"),
        ({"market": "tourism", "title": "x"}, "market"),
        ({"market": "kigyojin", "title": ""}, "title"),
        ({"market": "kigyojin", "title": "x", "capacity": 0}, "capacity"),
        ({"market": "kigyojin", "title": "x", "wished_partners": ["a b"]}, "wished_partners"),
    ],
)
async def test_bad_needs_are_422_naming_the_field(client, yubari, body, field):
    response = await client.post(f"/matching/municipalities/{YUBARI}/needs", json=body, headers=yubari)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_a_required_field_cannot_be_patched_to_null(client, yubari):
    need = await add_need(client, yubari)
    response = await client.patch(
        f"/matching/municipalities/{YUBARI}/needs/{need['id']}", json={"title": None}, headers=yubari
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "title"


async def test_unknown_or_malformed_municipality_codes_are_refused(client, ops):
    for code, status in (("012093", 422), ("999997", 422)):
        response = await client.post(
            f"/matching/municipalities/{code}/needs", json={"market": "kigyojin", "title": "x"}, headers=ops
        )
        assert (response.status_code, response.json()["error"]["field"]) == (status, "code")


@pytest.mark.parametrize("code", ["99", "012093", "999997", "010006"])  # short, bad check digit, unknown, a prefecture
async def test_listing_the_needs_of_what_is_no_municipality_is_422_naming_the_code(client, ops, code):
    response = await client.get(f"/matching/municipalities/{code}/needs", headers=ops)
    assert (response.status_code, response.json()["error"]["field"]) == (422, "code")


async def test_companies_and_advisers_are_registered_by_ops_only(client, ops, yubari):
    body = {"name": "X", "municipality_code": CHIYODA, "markets": ["kigyojin"]}
    assert (await client.post("/matching/companies", json=body, headers=yubari)).status_code == 403
    company = await add_company(client, ops, preferred_prefectures=["01"], track_record=3)
    assert (company["markets"], company["preferred_prefectures"]) == (["kigyojin", "satellite_office"], ["01"])

    response = await client.patch(f"/matching/companies/{company['id']}", json={"capacity": 4}, headers=yubari)
    assert response.status_code == 403
    response = await client.patch(f"/matching/companies/{company['id']}", json={"capacity": 4}, headers=ops)
    assert response.json()["capacity"] == 4


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"markets": []}, "markets"),
        ({"preferred_prefectures": ["48"]}, "preferred_prefectures"),
        ({"wished_municipalities": ["012093"]}, "wished_municipalities"),
        ({"municipality_code": "999997"}, "municipality_code"),
    ],
)
async def test_bad_companies_are_422_naming_the_field(client, ops, extra, field):
    body = {"name": "X", "municipality_code": CHIYODA, "markets": ["kigyojin"], **extra}
    response = await client.post("/matching/companies", json=body, headers=ops)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_company_list_filters_by_market_field_and_prefecture_and_pages(client, ops, app_key):
    tokyo = await add_company(client, ops, "Tokyo A", CHIYODA, fields=["tourism", "ict_digital"])
    await add_company(client, ops, "Osaka B", OSAKA, fields=["ict_digital"])
    await add_company(client, ops, "Tokyo C", CHIYODA, markets=["satellite_office"], fields=["tourism"])
    headers = bearer(app_key)

    async def names(**params):
        response = await client.get("/matching/companies", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json()["items"])

    assert await names(market="kigyojin", field="tourism") == ["Tokyo A"]
    assert await names(prefecture="27") == ["Osaka B"]
    assert await names(market="satellite_office", prefecture="13") == ["Tokyo A", "Tokyo C"]

    first = (await client.get("/matching/companies", params={"limit": 2}, headers=headers)).json()
    second = (
        await client.get("/matching/companies", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers)
    ).json()
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert len(seen) == len(set(seen)) >= 3 and tokyo["id"] in seen


async def test_needs_list_across_municipalities_by_prefecture(client, ops, app_key):
    await add_need(client, ops, code=YUBARI, fields=["tourism"])
    await add_need(client, ops, code=HIMI, fields=["tourism"])
    response = await client.get(
        "/matching/needs", params={"prefecture": "16", "field": "tourism"}, headers=bearer(app_key)
    )
    assert [item["municipality_code"] for item in response.json()["items"]] == [HIMI]


async def test_adviser_profile_roundtrip(client, ops, app_key):
    adviser = await add_adviser(client, ops, home=SAPPORO, experience_years=12, adviser_type="municipal_staff")
    response = await client.get(f"/matching/advisers/{adviser['id']}", headers=bearer(app_key))
    assert (response.json()["adviser_type"], response.json()["experience_years"]) == ("municipal_staff", 12)
    bad = await client.post(
        "/matching/advisers", json={"name": "x", "adviser_type": "guru", "municipality_code": SAPPORO}, headers=ops
    )
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "adviser_type")
