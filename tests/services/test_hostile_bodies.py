"""Bodies an attacker would send: nested hundreds of levels deep, or dated at the end of the calendar. Each is a
422 naming what is wrong, on every service and on both databases, never a 500."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from common.schemas import MAX_JSON_DEPTH, JsonTooDeep, RequestBody, has_nul, json_depth, parse_json
from services.mynapoint.signing import sign_headers
from tests.conftest import bearer, make_key

MUNICIPALITY = "012092"


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- the check itself ------------------------------------------------------------------------------------


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth(b'{"a": [1, {"b": "[[[{{{"}], "c\\"[": "]"}') == 3
    assert json_depth(nested(40).encode()) == 40
    assert json_depth(b"") == json_depth(b"12") == 0


def test_parse_json_refuses_deep_bodies_as_a_value_error_before_parsing():
    assert parse_json(nested(MAX_JSON_DEPTH).encode())["a"]
    for body in (nested(MAX_JSON_DEPTH + 1), nested_lists(100_000)):
        with pytest.raises(JsonTooDeep):
            parse_json(body.encode())
    with pytest.raises(ValueError):
        parse_json(b"\xff{")


def test_the_nul_check_is_iterative_and_bounded():
    deep: list = []
    for _ in range(5_000):  # far past Python's recursion limit
        deep = [deep]
    with pytest.raises(JsonTooDeep):
        has_nul(deep)
    assert has_nul({"ok": ["x", {"k\x00": 1}]}) and not has_nul({"ok": ["x", {"k": 1}]})

    class Body(RequestBody):
        value: object

    with pytest.raises(ValidationError) as caught:
        Body(value=deep)
    assert caught.value.errors()[0]["loc"] == ("value",)


# --- every service, through the gateway ------------------------------------------------------------------


@pytest.fixture
async def ops_headers(db) -> dict[str, str]:
    return bearer(await make_key(db, "ops"))


ROUTES = [
    ("POST", "/subsidy/programs/local10000/calculate"),
    ("POST", "/subsidy/calculate/batch"),
    ("POST", "/matching/companies"),
    ("POST", f"/matching/municipalities/{MUNICIPALITY}/needs"),
    ("POST", "/mynapoint/providers"),
    ("POST", "/mynapoint/programs"),
    ("PATCH", "/mynapoint/providers/prov_missing"),
    ("POST", "/mynapoint/programs/prog_missing/roster"),
    ("POST", "/webhooks/providers/prov_missing"),
]


@pytest.mark.parametrize("depth", [300, 1_000, 20_000])
@pytest.mark.parametrize("method,path", ROUTES)
async def test_a_deeply_nested_body_is_422_on_every_route(client, ops_headers, method, path, depth):
    for body in (nested(depth), nested_lists(depth)):
        response = await client.request(
            method, path, content=body, headers=ops_headers | {"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["field"] == "body"


async def test_a_deep_signed_webhook_is_refused_before_it_is_parsed(client, ops_headers):
    created = await client.post(
        "/mynapoint/providers",
        headers=ops_headers,
        json={"name": "深いペイ", "webhook_url": "http://provider.test/hooks"},
    )
    provider = created.json()
    body = '{"type": "grant.credited", "data": ' + nested(1_000) + "}"
    headers = sign_headers("msg_deep", body, [provider["webhook_secret"]])
    response = await client.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "body"


async def test_a_shallow_body_still_passes(client, ops_headers):
    response = await client.post(
        "/subsidy/programs/local10000/calculate",
        headers=ops_headers,
        json={
            "fiscal_year": 2023,
            "municipality_code": MUNICIPALITY,
            "inputs": {
                "initial_investment": 40_000_000,
                "municipal_grant": 10_000_000,
                "loan_amount": 20_000_000,
                "own_funds": 10_000_000,
                "lender_type": "jfc",
                "application_date": "2023-06-01",
            },
        },
    )
    assert response.status_code == 200, response.text


# --- dates at the end of the calendar --------------------------------------------------------------------


async def _program_body(client, ops_headers, **window) -> dict:
    provider = (
        await client.post(
            "/mynapoint/providers",
            headers=ops_headers,
            json={"name": "端ペイ", "webhook_url": "http://provider.test/hooks"},
        )
    ).json()
    now = datetime.now(UTC)
    return {
        "municipality_code": MUNICIPALITY,
        "name": "端のポイント",
        "kind": "fixed",
        "points_per_person": 1_000,
        "budget_yen": 10_000,
        "provider_ids": [provider["id"]],
        "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(),
        **window,
    }


@pytest.mark.parametrize(
    "field,value",
    [
        ("closes_at", "9999-12-31T23:59:59-12:00"),
        ("opens_at", "0001-01-01T00:00:00+14:00"),
        ("closes_at", "9999-12-31T23:59:59+09:00"),
        ("closes_at", "3000-01-01T00:00:00Z"),
    ],
)
async def test_a_program_window_at_the_end_of_the_calendar_is_422(client, ops_headers, field, value):
    body = await _program_body(client, ops_headers, **{field: value})
    response = await client.post("/mynapoint/programs", headers=ops_headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_a_program_window_far_ahead_but_in_range_is_kept_in_utc(client, ops_headers):
    body = await _program_body(client, ops_headers, closes_at="2999-12-31T23:59:59-12:00")
    response = await client.post("/mynapoint/programs", headers=ops_headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["closes_at"].startswith("3000-01-01T11:59:59")


@pytest.mark.parametrize(
    "field,value",
    [
        ("birth_date", "9999-12-31"),
        ("birth_date", "0001-01-01"),
    ],
)
async def test_a_roster_date_near_year_9999_is_a_row_error(client, ops_headers, field, value):
    program = await client.post(
        "/mynapoint/programs", headers=ops_headers, json=await _program_body(client, ops_headers)
    )
    response = await client.post(
        f"/mynapoint/programs/{program.json()['id']}/roster",
        headers=ops_headers,
        json={"residents": [{"myki_id": "myki-edge-1", field: value}]},
    )
    assert response.status_code in (200, 422), response.text
    body = response.json()
    errors = body.get("errors") or body["error"].get("errors")
    assert errors and errors[0]["field"].endswith(field), body


async def test_an_eligibility_reference_date_near_year_9999_is_422(client, ops_headers):
    body = await _program_body(client, ops_headers, eligibility={"min_age": 18, "age_reference_date": "9999-12-31"})
    response = await client.post("/mynapoint/programs", headers=ops_headers, json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == "eligibility.age_reference_date"


@pytest.mark.parametrize("value", ["9999-12-31", "9999-12-01", "0001-01-01"])
async def test_a_subsidy_date_input_near_year_9999_is_422(client, value):
    response = await client.post(
        "/subsidy/programs/local10000/calculate",
        json={
            "fiscal_year": 2023,
            "municipality_code": MUNICIPALITY,
            "inputs": {
                "initial_investment": 40_000_000,
                "municipal_grant": 10_000_000,
                "loan_amount": 20_000_000,
                "own_funds": 10_000_000,
                "lender_type": "jfc",
                "application_date": value,
            },
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].endswith("application_date")
