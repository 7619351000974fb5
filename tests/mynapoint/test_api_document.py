"""What a client generator reads of the point-issuance API in the merged document: every success response has a
schema with named properties, every request body an example, and the webhooks section every outbound event."""

import json

import pytest

from services.mynapoint.events import EVENT_TYPES, OUTBOUND
from tests.conftest import bearer


@pytest.fixture
async def document(client) -> dict:
    return (await client.get("/openapi.json")).json()


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _mynapoint_operations(document: dict):
    for path, item in document["paths"].items():
        if path.startswith(("/mynapoint", "/webhooks")):
            for method, operation in item.items():
                yield f"{method.upper()} {path}", operation


async def test_every_success_response_has_named_properties(document):
    untyped = []
    for name, operation in _mynapoint_operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if not _resolve(document, schema).get("properties"):
                    untyped.append(f"{name} {status}")
    assert untyped == []


async def test_every_operation_has_a_summary_a_description_and_a_tag(document):
    operations = dict(_mynapoint_operations(document))
    assert len(operations) >= 29
    bare = [
        name
        for name, operation in operations.items()
        if not (operation.get("summary") and operation.get("description") and operation.get("tags"))
    ]
    assert bare == []


async def test_every_json_request_body_has_an_example(document):
    missing = []
    for name, operation in _mynapoint_operations(document):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content and not (content.get("example") or _resolve(document, content["schema"]).get("examples")):
            missing.append(name)
    assert missing == []


async def test_the_webhooks_section_lists_every_outbound_event(document):
    assert set(document["webhooks"]) == {event.name for event in OUTBOUND} >= {"grant.created", "grant.revoked", "ping"}
    for name, item in document["webhooks"].items():
        body = _resolve(document, item["post"]["requestBody"]["content"]["application/json"]["schema"])
        assert body["properties"]["type"]["const"] == name
        assert _resolve(document, body["properties"]["data"])["properties"]


async def test_the_event_catalogue_is_self_contained_and_its_examples_are_valid(client, ops_key):
    items = (await client.get("/mynapoint/event-types", headers=bearer(ops_key))).json()["items"]
    assert [(item["type"], item["direction"]) for item in items] == [(e.name, e.direction) for e in EVENT_TYPES]
    for item, event in zip(items, EVENT_TYPES, strict=True):
        refs = [part.split('"')[0] for part in json.dumps(item["schema"]).split('"$ref": "')[1:]]
        assert refs and all(ref.removeprefix("#/$defs/") in item["schema"]["$defs"] for ref in refs)
        event.data.model_validate(item["example"]["data"])
        assert item["example"]["type"] == item["type"]
