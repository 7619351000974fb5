"""The error-code registry: its codes are well formed, docs/errors.md is generated from it, and every code the
code base raises is registered and documented by an operation (or is one of the generic HTTP-status codes)."""

import ast
from http import HTTPStatus
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from common.error_codes import GENERIC, ErrorCode, for_status, markdown
from common.errors import invalid_input
from common.openapi import BY_VALUE, X_ERROR_CODES, error_responses, operations

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("common", "gateway", "services")


def test_every_code_is_snake_case_with_an_error_status_and_a_meaning():
    for code in ErrorCode:
        assert code.value.replace("_", "").isalpha() and code.value.islower(), code
        assert code.status >= 400 and HTTPStatus(code.status), code
        assert code.meaning and "\n" not in code.meaning, code


def test_generic_codes_are_those_of_plain_statuses():
    assert for_status(404) == ErrorCode.NOT_FOUND and for_status(405) == ErrorCode.METHOD_NOT_ALLOWED
    assert for_status(418) == ErrorCode.BAD_REQUEST and for_status(599) == ErrorCode.INTERNAL_ERROR
    assert ErrorCode.GRANT_RESOLVED not in GENERIC


def test_docs_page_is_the_registry():
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert page == markdown(), "docs/errors.md is stale: python -m common.error_codes --markdown > docs/errors.md"
    for code in ErrorCode:
        assert f"| `{code}` | {code.status} | {code.meaning} |" in page
    for explained in ("`errors`", "`request_id`", "`field`", "X-Request-ID", "x-error-codes"):
        assert explained in page


def test_error_responses_group_codes_by_status_in_registry_order():
    responses = error_responses(
        ErrorCode.GRANT_RESOLVED, ErrorCode.NOT_FOUND, ErrorCode.BUDGET_EXHAUSTED, ErrorCode.ALREADY_REDELIVERED
    )
    assert list(responses) == [404, 409, 422]
    assert responses[422][X_ERROR_CODES] == ["grant_resolved", "budget_exhausted"]
    assert "`budget_exhausted`: " + ErrorCode.BUDGET_EXHAUSTED.meaning in responses[422]["description"]
    assert responses[404]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


class _TwoNumbers(BaseModel):
    first: int
    second: int = Field(ge=0)


def test_a_model_failure_names_every_invalid_field_under_its_prefix():
    with pytest.raises(ValidationError) as caught:
        _TwoNumbers.model_validate({"first": "x", "second": -1})
    error = invalid_input(caught.value, "inputs")
    assert error.code == ErrorCode.INVALID_INPUT and error.field == "inputs.first"
    assert [problem["field"] for problem in error.errors] == ["inputs.first", "inputs.second"]
    assert error.message == error.errors[0]["message"] and error.message.startswith("inputs.first: ")


def raised_codes() -> dict[ErrorCode, str]:
    """Every `ErrorCode.X` named in the code base (but the registry itself), with where it first appears."""
    found: dict[ErrorCode, str] = {}
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            if path == ROOT / "common" / "error_codes.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "ErrorCode"
                ):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    assert node.attr in ErrorCode.__members__, f"{where}: ErrorCode.{node.attr} is not registered"
                    found.setdefault(ErrorCode[node.attr], where)
    return found


def documented_codes(*documents: dict) -> set[ErrorCode]:
    return {
        BY_VALUE[code]
        for document in documents
        for _path, _method, operation in operations(document)
        for response in operation["responses"].values()
        for code in response.get(X_ERROR_CODES, ())
    }


def test_the_scan_finds_raise_sites():
    found = raised_codes()
    assert {ErrorCode.GRANT_RESOLVED, ErrorCode.ROUND_SOLVED, ErrorCode.UNKNOWN_PROGRAM, ErrorCode.RATE_LIMITED} <= set(
        found
    )


@pytest.fixture
def service_documents(service_apps) -> dict[str, dict]:
    return {name: app.openapi() for name, app in service_apps.items()}


async def test_every_raised_code_is_documented_by_an_operation_or_generic(client, service_documents):
    merged = (await client.get("/openapi.json")).json()
    documented = documented_codes(merged, *service_documents.values())
    undocumented = {
        code: where for code, where in raised_codes().items() if code not in documented and code not in GENERIC
    }
    assert not undocumented, f"raised but documented by no operation: {undocumented}"
    unused = set(ErrorCode) - documented - GENERIC
    assert not unused, f"registered but documented by no operation: {sorted(unused)}"
