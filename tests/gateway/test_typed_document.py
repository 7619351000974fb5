"""The merged /openapi.json is one a client generator can build on: every operation id is short, unique and
`<service>_<verb>_<noun>`; every success response has a schema with named properties; every operation has a
summary, a description and a tag; every JSON request body has an example."""

import pytest

from common.openapi import OPERATION_ID_MAX_LENGTH, operation_id_problem, operations
from tests.matching.builders import example_targets

# Text, not JSON: the Prometheus exposition format.
UNTYPED = {("get", "/metrics")}


@pytest.fixture
async def merged(client) -> dict:
    return (await client.get("/openapi.json")).json()


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def check_operation_ids(document: dict) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    problems = [
        problem
        for _, _, operation in operations(document)
        if (problem := operation_id_problem(operation["operationId"]))
    ]
    assert problems == []


async def test_every_operation_id_is_unique_short_and_snake_case(merged):
    check_operation_ids(merged)
    assert len(list(operations(merged))) >= 17, "the document lost the subsidy and gateway operations"


def test_each_service_document_has_such_ids_too(service_apps):
    for name, app in service_apps.items():
        document = app.openapi()
        check_operation_ids(document)
        ids = {operation["operationId"] for _, _, operation in operations(document)}
        assert {f"{name}_get_health", f"{name}_get_readiness", f"{name}_get_metrics"} <= ids


async def test_operation_ids_are_the_service_and_the_route_name(merged):
    ids = {(method, path): operation["operationId"] for path, method, operation in operations(merged)}
    assert ids[("post", "/subsidy/programs/{program}/calculate")] == "subsidy_calculate"
    assert ids[("get", "/subsidy/calculations")] == "subsidy_list_calculations"
    assert ids[("get", "/readyz")] == "gateway_get_readiness"


@pytest.mark.parametrize(
    "operation_id",
    [
        "subsidy",
        "Subsidy_calculate",
        "subsidy-calculate",
        "subsidy__x",
        "subsidy_" + "x" * (OPERATION_ID_MAX_LENGTH - 7),
    ],
)
def test_the_rule_refuses_ids_no_one_would_type(operation_id):
    assert operation_id_problem(operation_id) is not None


async def test_every_success_response_has_a_schema_with_named_properties(merged):
    untyped = []
    for path, method, operation in operations(merged):
        if (method, path) in UNTYPED:
            continue
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if not schema or not resolve(merged, schema).get("properties"):
                untyped.append(f"{method.upper()} {path} {status}")
    assert untyped == []


async def test_every_operation_has_a_summary_a_description_and_a_tag(merged):
    missing = [
        f"{method.upper()} {path}: {part}"
        for path, method, operation in operations(merged)
        for part in ("summary", "description", "tags")
        if not operation.get(part)
    ]
    assert missing == []
    subsidy_tags = {
        tag for path, _, operation in operations(merged) if path.startswith("/subsidy/") for tag in operation["tags"]
    }
    assert subsidy_tags == {"subsidy"}


async def test_every_json_request_body_has_an_example_that_its_schema_accepts(merged):
    bodies = [
        (f"{method.upper()} {path}", operation["requestBody"]["content"]["application/json"])
        for path, method, operation in operations(merged)
        if "requestBody" in operation
    ]
    assert len(bodies) >= 6
    for where, media in bodies:
        resolved = resolve(merged, media["schema"])
        # The example sits in the schema (pydantic's json_schema_extra) or beside it in the media type.
        examples = resolved.get("examples") or ([media["example"]] if "example" in media else [])
        assert examples, where
        for example in examples:
            assert set(example) <= set(resolved["properties"]), where
            assert set(resolved.get("required", [])) <= set(example), where


async def test_the_examples_are_requests_the_suite_accepts(client, db, ops_key, merged):
    """Subsidy's and matching's examples, sent as they are (matching's name the demo market's fixed ids);
    mynapoint's name programs and providers that must exist first, and tests/mynapoint/test_api_document.py
    checks them against their schemas."""
    headers = {"Authorization": f"Bearer {ops_key}"}
    targets = {"program": "local10000", **await example_targets(client, db, headers)}
    for path, method, operation in operations(merged):
        if "requestBody" not in operation or not path.startswith("/subsidy/"):
            continue
        concrete = path.format_map(targets)
        schema = resolve(merged, operation["requestBody"]["content"]["application/json"]["schema"])
        for example in schema["examples"]:
            response = await client.request(method, concrete, json=example, headers=headers)
            assert response.status_code in (200, 201, 202), (method, path, example, response.text)
