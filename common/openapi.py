"""Every OpenAPI document's operation ids, and its error side: one `Error` schema whose `code` is an enum of the
registry, and each operation's error responses grouped by status, listing the codes it can answer.

An operation id is `<service>_<route function name>`, route functions being named `verb_noun`
(`subsidy_calculate`, `subsidy_list_calculations`): an app is built with `operation_ids(service)` as its
`generate_unique_id_function`, so the id is set once, where the route is declared, and stays stable.

A route declares the codes its own logic raises, `responses=error_responses(ErrorCode.NOT_FOUND, ...)`; the
codes every route of its kind can answer (invalid input, a missing key, an internal error...) are added when
the document is built, by a rule of the app (`install_error_documents`). Each error response lists its codes
in its description and, for clients, in `x-error-codes`.
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from common.error_codes import ErrorCode, for_status
from common.errors import ErrorEnvelope

ERROR_SCHEMA = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
X_ERROR_CODES = "x-error-codes"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# FastAPI's own validation body, which the suite never answers with (its handler writes the Error body).
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
WITH_RETRY_AFTER = frozenset({429, 503})
BY_VALUE = {code.value: code for code in ErrorCode}

# What a client generator turns into a method name: snake case, the service first, short enough to type.
OPERATION_ID = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")
OPERATION_ID_MAX_LENGTH = 40

Document = dict[str, Any]
Operation = dict[str, Any]
# The codes an operation can answer whatever its own logic: (path, method, operation) → codes.
GenericCodes = Callable[[str, str, Operation], set[ErrorCode]]


def operation_ids(service: str) -> Callable[[APIRoute], str]:
    """`generate_unique_id_function=` of a service's app: `<service>_<route function name>`."""

    def operation_id(route: APIRoute) -> str:
        return f"{service}_{route.name}"

    return operation_id


def operation_id_problem(operation_id: str) -> str | None:
    """Why an operation id is not one a client should have to type, or None."""
    if not OPERATION_ID.match(operation_id):
        return f"{operation_id!r} is not snake case <service>_<verb>_<noun>"
    if len(operation_id) > OPERATION_ID_MAX_LENGTH:
        return f"{operation_id!r} is longer than {OPERATION_ID_MAX_LENGTH} characters"
    return None


def error_responses(*codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route decorator: the codes its own logic can answer, one response per status."""
    return {status: _response(status, group) for status, group in _by_status(codes).items()}


def _by_status(codes: Iterable[ErrorCode]) -> dict[int, list[ErrorCode]]:
    chosen = set(codes)
    grouped: dict[int, list[ErrorCode]] = {}
    for code in ErrorCode:  # registry order, so that documents are stable
        if code in chosen:
            grouped.setdefault(code.status, []).append(code)
    return dict(sorted(grouped.items()))


def _response(status: int, codes: list[ErrorCode]) -> dict[str, Any]:
    lines = "\n".join(f"- `{code}`: {code.meaning}" for code in codes)
    response: dict[str, Any] = {
        "description": f"{HTTPStatus(status).phrase}:\n\n{lines}",
        "content": {"application/json": {"schema": ERROR_REF}},
        X_ERROR_CODES: [str(code) for code in codes],
    }
    if status in WITH_RETRY_AFTER:
        response["headers"] = RETRY_AFTER
    return response


def error_schemas() -> dict[str, Any]:
    """`Error` (the envelope) and the schemas it refers to, `ErrorCode` among them, for components/schemas."""
    schema = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = schema.pop("$defs")
    schemas[ERROR_SCHEMA] = schema | {"title": ERROR_SCHEMA}
    return schemas


def operations(document: Document) -> Iterator[tuple[str, str, Operation]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                yield path, method, operation


def is_error_status(status: str) -> bool:
    return status.isdigit() and int(status) >= 400


def declared_codes(operation: Operation) -> set[ErrorCode]:
    """The codes an operation's error responses list; a status documented without them, its generic code."""
    codes: set[ErrorCode] = set()
    for status, response in operation.get("responses", {}).items():
        if is_error_status(status):
            listed = response.get(X_ERROR_CODES)
            codes |= {BY_VALUE[code] for code in listed} if listed else {for_status(int(status))}
    return codes


def set_error_responses(operation: Operation, codes: Iterable[ErrorCode]) -> None:
    """Replace the operation's error responses with one per status of `codes`; other responses stay."""
    responses = {
        status: response for status, response in operation.get("responses", {}).items() if not is_error_status(status)
    }
    responses |= {str(status): response for status, response in error_responses(*codes).items()}
    operation["responses"] = dict(sorted(responses.items()))


def has_inputs(operation: Operation) -> bool:
    return bool(operation.get("parameters")) or "requestBody" in operation


def document_errors(document: Document, generic: GenericCodes) -> Document:
    """Every operation's error responses (its declared codes and the generic ones) and the Error schemas."""
    for path, method, operation in operations(document):
        set_error_responses(operation, declared_codes(operation) | generic(path, method, operation))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(error_schemas())
    for name in FASTAPI_VALIDATION_SCHEMAS:  # the first refers to the second
        if f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name, None)
    return document


def install_error_documents(app: FastAPI, generic: GenericCodes) -> None:
    """The app's /openapi.json documents its errors: FastAPI's documented way to extend its document."""
    build = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build(), generic)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook for a custom document
