"""The API document is as strict as the server: what one refuses, the other declares; and a method a path does not
take is a 405 naming every method it does."""

import pytest

from tests.conftest import bearer

MUNICIPALITY = "012092"


@pytest.fixture
async def document(client) -> dict:
    return (await client.get("/openapi.json")).json()


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _bodies(document: dict) -> list[tuple[str, dict]]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                found.append((f"{method.upper()} {path}", _resolve(document, content["schema"])))
    return found


async def test_every_json_body_refuses_unknown_fields_in_the_document(document):
    bodies = _bodies(document)
    assert len(bodies) >= 15
    loose = [name for name, schema in bodies if schema.get("additionalProperties") is not False]
    assert loose == []


def _parameter(document: dict, path: str, method: str, name: str) -> dict:
    (parameter,) = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    return parameter["schema"] if "anyOf" not in parameter["schema"] else parameter["schema"]["anyOf"][0]


async def test_the_document_declares_the_patterns_and_lengths_the_server_applies(document):
    cursor = _parameter(document, "/mynapoint/providers", "get", "cursor")
    assert cursor["pattern"] == "^[A-Za-z0-9_-]+$" and cursor["maxLength"] == 200
    key = _parameter(document, "/mynapoint/programs", "post", "Idempotency-Key")
    assert (key["minLength"], key["maxLength"]) == (1, 255)
    program = _resolve(
        document,
        document["paths"]["/mynapoint/programs"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    )
    assert "pattern" in program["properties"]["premium_rate"]["anyOf"][0]
    assert program["properties"]["municipality_code"]["pattern"] == "^[0-9]{6}$"
    assert "check digit" in program["properties"]["municipality_code"]["description"]
    batch = _resolve(
        document,
        document["paths"]["/subsidy/calculate/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    )
    assert batch["properties"]["include_trace"]["type"] == "boolean"


@pytest.mark.parametrize(
    "method,path,body,field",
    [
        ("POST", "/subsidy/calculate/batch", {"items": [], "include_trace": 0}, "include_trace"),
        (
            "POST",
            "/matching/companies",
            {
                "name": "株式会社テスト",
                "markets": ["kigyojin"],
                "fields": ["tourism"],
                "prefecture_code": "13",
                "unknown": 1,
            },
            "unknown",
        ),
        (
            "POST",
            f"/matching/municipalities/{MUNICIPALITY}/needs",
            {"market": "kigyojin", "title": "観光", "fields": ["tourism"], "capacity": 1, "surprise": True},
            "surprise",
        ),
    ],
)
async def test_what_the_document_refuses_the_server_refuses(client, ops_key, method, path, body, field):
    response = await client.request(method, path, json=body, headers=bearer(ops_key))
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["error"]["errors"]}


async def test_a_malformed_cursor_and_an_overlong_idempotency_key_are_422(client, ops_key):
    response = await client.get("/mynapoint/providers?cursor=not+a+cursor!", headers=bearer(ops_key))
    assert response.status_code == 422 and response.json()["error"]["field"] == "cursor"
    response = await client.post(
        "/mynapoint/programs", json={}, headers=bearer(ops_key) | {"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in {error["field"] for error in response.json()["error"]["errors"]}


@pytest.mark.parametrize("rate", ["abc", "1 / 4", "1/0", "-1/4"])
async def test_a_malformed_premium_rate_is_422(client, ops_key, rate):
    response = await client.post(
        "/mynapoint/programs",
        headers=bearer(ops_key),
        json={
            "municipality_code": MUNICIPALITY,
            "name": "プレミアム",
            "kind": "premium",
            "premium_rate": rate,
            "budget_yen": 1_000,
            "provider_ids": ["prov_x"],
        },
    )
    assert response.status_code == 422
    assert "premium_rate" in {error["field"] for error in response.json()["error"]["errors"]}


async def test_put_healthz_is_405_with_allow(client):
    response = await client.put("/healthz")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET" and response.json()["error"]["code"] == "method_not_allowed"


async def test_allow_names_every_method_of_a_path_behind_the_gateway(client, ops_key):
    response = await client.delete("/mynapoint/providers", headers=bearer(ops_key))
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET, POST"
    response = await client.put("/mynapoint/providers/prov_x", headers=bearer(ops_key), json={})
    assert response.status_code == 405 and "PATCH" in response.headers["allow"].split(", ")
