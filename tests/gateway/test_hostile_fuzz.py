"""Every POST and PATCH route of the merged document, sent what an attacker would send: bodies nested deep, huge
numbers, NUL characters, invalid UTF-8 and wrong types in every field, and hostile headers. None may answer 5xx.

schemathesis (test_fuzz.py) explores the document's own shapes; this sends the shapes it never generates."""

import json
import re

import pytest

from tests.conftest import bearer

PATH_VALUES = {"code": "012092"}


def _operations(document: dict) -> list[tuple[str, str, list[str]]]:
    """(method, concrete path, the body's top-level field names) for every POST and PATCH."""
    found = []
    for template, operations in document["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "x_missing"), template)
        for method in ("post", "patch"):
            if method not in operations:
                continue
            schema = (
                operations[method]
                .get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            if "$ref" in schema:
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            found.append((method.upper(), path, sorted(schema.get("properties", {})) or ["residents", "type"]))
    return found


def _hostile_bodies(fields: list[str]) -> list[bytes]:
    deep = 2_000
    bodies = [
        ('{"a":' * deep + "1" + "}" * deep).encode(),
        b"[" * 20_000 + b"]" * 20_000,
        b"1" + b"0" * 5_000,
        b"-1e999999",
        b'{"a": NaN, "b": Infinity}',
        b"\xff\xfe{\x00}",
        b'{"a": "\xc3"}',
        b"",
        b"null",
        b"[]",
        b'"text"',
        b"{" * 10 + b"}",
    ]
    for value in (10**40, -(10**40), 1e308, "a\x00b", "\ud800", [], {}, True, "x" * 20_000, [[[[[[[[]]]]]]]]):
        bodies.append(json.dumps(dict.fromkeys(fields, value)).encode())
    bodies.append(json.dumps({field: {"nested": "a\x00"} for field in fields}).encode())
    return bodies


HOSTILE_HEADERS = [
    {"content-type": "application/json"},
    {"content-type": "text/csv"},
    {"content-type": "application/json; charset=utf-16"},
    {"content-type": "multipart/form-data; boundary=x"},
    {"user-agent": b"\xff\xfe\x80 caf\xe9", "x-request-id": b"\xff" * 200, "accept": b"\xe2\x82\xac/*"},
    {"content-type": "application/json", "idempotency-key": "k" * 10_000, "x-request-id": "123456789018"},
    {"content-type": "application/json", "idempotency-key": b"\xe9\xff", "accept-language": b"\xff"},
    {
        "content-type": "application/json",
        "x-forwarded-for": b"\xff, 999.1.1.1",
        "webhook-id": b"\xff",
        "webhook-timestamp": "99999999999999999999",
        "webhook-signature": "v1,!!!",
    },
]


async def test_no_route_answers_a_hostile_request_with_a_5xx(client, ops_key):
    document = (await client.get("/openapi.json")).json()
    operations = _operations(document)
    assert len(operations) >= 20, "the merged document lost routes"
    failures = []
    for method, path, fields in operations:
        bodies = _hostile_bodies(fields)
        # Every body as JSON, and every header set with a few bodies: the product would take minutes.
        cases = [(body, HOSTILE_HEADERS[0]) for body in bodies]
        cases += [(body, headers) for headers in HOSTILE_HEADERS[1:] for body in (bodies[0], bodies[5], bodies[-1])]
        for body, headers in cases:
            response = await client.request(method, path, content=body, headers=bearer(ops_key) | headers)
            if response.status_code >= 500:
                failures.append(
                    f"{method} {path} {headers} {body[:60]!r}: {response.status_code} {response.text[:200]}"
                )
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("headers", HOSTILE_HEADERS)
async def test_a_hostile_header_on_a_read_is_never_a_5xx(client, ops_key, headers):
    response = await client.get("/subsidy/municipalities/012092", headers=bearer(ops_key) | headers)
    assert response.status_code < 500, response.text
