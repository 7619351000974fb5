"""Errors as the documents describe them and as clients receive them: the merged /openapi.json and each
service's own document declare one Error schema whose code is an enum of the registry, every operation's
error responses list their codes, and a request with several invalid fields is told about all of them."""

import pytest

from common.error_codes import ErrorCode
from common.openapi import BY_VALUE, X_ERROR_CODES, operations
from tests.conftest import bearer

CALCULATE = "/subsidy/programs/local10000/calculate"


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def error_detail(document: dict) -> dict:
    return resolve(document, document["components"]["schemas"]["Error"]["properties"]["error"])


@pytest.fixture
async def merged(client) -> dict:
    return (await client.get("/openapi.json")).json()


def error_responses_of(document: dict):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                yield f"{method.upper()} {path} {status}", int(status), response


def check_error_document(document: dict) -> None:
    detail = error_detail(document)
    assert resolve(document, detail["properties"]["code"])["enum"] == [code.value for code in ErrorCode]
    assert {"code", "message", "field", "errors", "request_id"} <= set(detail["properties"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    seen = 0
    for where, status, response in error_responses_of(document):
        seen += 1
        assert response["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}, where
        codes = [BY_VALUE[code] for code in response[X_ERROR_CODES]]
        assert codes and all(code.status == status for code in codes), where
        assert all(f"`{code}`" in response["description"] for code in codes), where
    assert seen > 20, "the document lost its error responses"


async def test_merged_document_declares_the_error_schema_with_the_registry_as_its_code_enum(merged):
    check_error_document(merged)


def test_each_service_document_declares_it_too(service_apps):
    for app in service_apps.values():
        check_error_document(app.openapi())


def codes_of(document: dict, method: str, path: str) -> dict[str, list[str]]:
    responses = document["paths"][path][method]["responses"]
    return {status: response[X_ERROR_CODES] for status, response in responses.items() if X_ERROR_CODES in response}


async def test_operations_list_their_own_codes_and_the_generic_ones(merged):
    redeliver = codes_of(merged, "post", "/mynapoint/deliveries/{event_id}/redeliver")
    assert {"grant_resolved", "budget_exhausted", "idempotency_key_reused", "invalid_input"} <= set(redeliver["422"])
    assert redeliver["409"] == ["idempotency_in_progress", "already_redelivered"]
    assert redeliver["429"] == ["rate_limited"] and redeliver["413"] == ["payload_too_large"]
    assert set(redeliver["401"]) == {"unauthorized"}  # the service's gateway_required is never seen through it
    webhook = codes_of(merged, "post", "/webhooks/providers/{provider_id}")
    assert "bad_signature" in webhook["401"] and "busy" in webhook["422"] and "403" not in webhook
    programs = codes_of(merged, "get", "/subsidy/programs")  # open, no path parameter, nothing to find
    assert "403" not in programs and "404" not in programs and "413" not in programs
    calculate = codes_of(merged, "post", "/subsidy/programs/{program}/calculate")
    assert "unknown_program" in calculate["404"]
    assert {"unknown_fiscal_year", "invalid_override", "attribute_missing"} <= set(calculate["422"])
    ready = codes_of(merged, "get", "/readyz")
    assert set(ready["503"]) == {"database_unavailable", "migrations_pending", "services_not_ready"}
    assert "429" not in ready  # the gateway's own routes are not rate limited


def test_a_service_document_lists_gateway_required_on_its_api_but_not_on_its_probes(service_apps):
    document = service_apps["matching"].openapi()
    assert "gateway_required" in codes_of(document, "get", "/matching/fields")["401"]
    assert "401" not in codes_of(document, "get", "/healthz")
    assert codes_of(document, "post", "/matching/matches/{match_id}/transitions")["409"] == [
        "illegal_transition",
        "concurrent_transition",
    ]


# --- several invalid fields ---------------------------------------------------------------------------


def assert_all_reported(body: dict, fields: list[str]) -> None:
    error = body["error"]
    assert error["code"] == "invalid_input"
    assert [problem["field"] for problem in error["errors"]] == fields
    assert all(
        problem["code"] == "invalid_input" and problem["message"].startswith(problem["field"])
        for problem in error["errors"]
    )
    assert error["field"] == fields[0] and error["message"] == error["errors"][0]["message"]
    assert error["request_id"]


async def test_a_calculation_with_two_bad_inputs_reports_both(client):
    response = await client.post(
        CALCULATE,
        json={
            "fiscal_year": 2023,
            "inputs": {
                "initial_investment": "forty million",
                "municipal_grant": 10_000_000,
                "loan_amount": -1,
                "lender_type": "jfc",
            },
        },
    )
    assert response.status_code == 422
    assert_all_reported(response.json(), ["inputs.initial_investment", "inputs.loan_amount"])


async def test_a_calculation_request_with_two_bad_fields_reports_both(client):
    response = await client.post(CALCULATE, json={"fiscal_year": "2023", "municipality_code": "0120921"})
    assert response.status_code == 422
    assert_all_reported(response.json(), ["fiscal_year", "municipality_code"])


async def test_a_program_with_two_bad_fields_reports_both(client, ops_key):
    response = await client.post(
        "/mynapoint/programs",
        headers=bearer(ops_key),
        json={"municipality_code": "012092", "name": "", "budget_yen": -5, "provider_ids": ["prov_x"]},
    )
    assert response.status_code == 422
    assert_all_reported(response.json(), ["name", "budget_yen"])


async def test_one_bad_field_keeps_the_body_clients_know(client):
    response = await client.post(CALCULATE, json={"fiscal_year": "2023"})
    error = response.json()["error"]
    assert response.status_code == 422 and error["field"] == "fiscal_year"
    assert [problem["field"] for problem in error["errors"]] == ["fiscal_year"]
