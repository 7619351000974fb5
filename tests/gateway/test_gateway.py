"""Requests through the gateway to the in-process services: what a front-end app, provider or ops sees."""

import logging

import httpx
import pytest
from asgi_lifespan import LifespanManager

from common.auth import verify_principal
from common.codes import check_digit
from tests.harness import TEST_SECRET, bearer, make_key

YUBARI = "/subsidy/municipalities/012092"
PROTECTED = "/matching/fields"  # any key; the reference data (YUBARI) is open to everyone


async def test_municipality_through_the_gateway(client, app_key):
    response = await client.get(YUBARI, headers=bearer(app_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["prefecture"], body["population_2020"]) == ("夕張市", "北海道", 7334)
    assert (body["fiscal_strength_index"], body["kaso_type"], body["in_three_metro_area"]) == ("0.2", "full", False)


async def test_unknown_municipality_is_404_with_the_error_body(client, app_key):
    unknown = "99999" + check_digit("99999")
    response = await client.get(f"/subsidy/municipalities/{unknown}", headers=bearer(app_key))
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("not_found", "code")
    assert error["request_id"] == response.headers["x-request-id"]


async def test_malformed_code_is_422_naming_the_field(client, app_key):
    response = await client.get("/subsidy/municipalities/012093", headers=bearer(app_key))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "code"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer chk_0123456789abcdef_wrong"}, {"Authorization": "Token abc"}]
)
async def test_protected_path_without_a_good_key_is_401(client, headers):
    response = await client.get(PROTECTED, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_forged_identity_header_has_no_effect(client, app_key):
    forged = {
        "X-Chiiki-Principal": "role=ops&key=&municipality=&provider=&ts=9999999999",
        "X-Chiiki-Signature": "0" * 64,
    }
    assert (await client.get(PROTECTED, headers=forged)).status_code == 401
    # An app key with a forged ops identity is still only an app key.
    response = await client.get("/mynapoint/providers", headers=bearer(app_key) | forged)
    assert response.status_code == 403


async def test_revoked_key_is_refused(client, db):
    from common.models import ApiKey
    from common.timeutil import utcnow

    key = await make_key(db, "ops")
    assert (await client.get(YUBARI, headers=bearer(key))).status_code == 200
    async with db.sessionmaker() as session:
        (await session.get(ApiKey, key.split("_")[1])).revoked_at = utcnow()
        await session.commit()
    response = await client.get(YUBARI, headers=bearer(key))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


async def test_role_is_enforced_behind_the_gateway(client, app_key, ops_key):
    assert (await client.get("/mynapoint/providers", headers=bearer(app_key))).status_code == 403
    assert (await client.get("/mynapoint/providers", headers=bearer(ops_key))).status_code == 200


async def test_request_id_is_kept_when_sent(client, app_key):
    response = await client.get(YUBARI, headers=bearer(app_key) | {"X-Request-ID": "front-end-42"})
    assert response.headers["x-request-id"] == "front-end-42"
    assert response.headers.get_list("x-request-id") == ["front-end-42"]


async def test_request_id_is_generated_when_missing_or_unsafe(client):
    generated = (await client.get("/healthz")).headers["x-request-id"]
    unsafe = (await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})).headers["x-request-id"]
    assert len(generated) == 32 and len(unsafe) == 32 and generated != unsafe


async def test_request_id_is_in_every_log_line_of_gateway_and_service(client, app_key, caplog):
    caplog.set_level(logging.INFO)
    await client.get(YUBARI, headers=bearer(app_key) | {"X-Request-ID": "trace-me-7"})
    access = [r for r in caplog.records if r.name == "chiiki.access"]
    assert {r.service for r in access} == {"gateway", "subsidy"}
    assert all(r.request_id == "trace-me-7" for r in access)
    assert next(r for r in access if r.service == "gateway").principal == "app"


async def test_unknown_route_is_404_with_the_error_body(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "request_id"}


async def test_gateway_probes(client):
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["services"] == {"subsidy": "ready", "matching": "ready", "mynapoint": "ready"}


async def test_pagination_through_the_gateway(client, app_key):
    first = (
        await client.get("/subsidy/municipalities", params={"prefecture": "13", "limit": 10}, headers=bearer(app_key))
    ).json()
    second = (
        await client.get(
            "/subsidy/municipalities",
            params={"prefecture": "13", "limit": 10, "cursor": first["next_cursor"]},
            headers=bearer(app_key),
        )
    ).json()
    codes = [m["code"] for m in first["items"] + second["items"]]
    assert codes == sorted(codes) and len(set(codes)) == 20
    assert all(code.startswith("13") for code in codes)


async def test_bad_query_is_422_naming_the_field(client, app_key):
    response = await client.get("/subsidy/municipalities", params={"limit": 0}, headers=bearer(app_key))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "limit"


# --- the proxy itself, against stand-in upstreams ------------------------------------------------------


class Recorder:
    """A stand-in upstream ASGI app that records what reached it and echoes the body size."""

    def __init__(self):
        self.requests: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(
            {
                "headers": dict(scope["headers"]),
                "raw_headers": scope["headers"],
                "body": body,
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"x-upstream", b"yes")],
            }
        )
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


class FailingTransport(httpx.AsyncBaseTransport):
    def __init__(self, error: Exception):
        self.error = error
        self.calls = 0

    async def handle_async_request(self, request):
        self.calls += 1
        raise self.error


async def _gateway_with(settings, db, transports):
    from gateway.main import create_app

    return create_app(settings=settings, db=db, transports=transports)


async def _call(app, method, path, **kwargs):
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client,
    ):
        return await client.request(method, path, **kwargs)


async def test_bodies_headers_and_identity_reach_the_upstream(settings, db, app_key):
    recorder = Recorder()
    app = await _gateway_with(settings, db, {"mynapoint": httpx.ASGITransport(app=recorder)})
    body = b"x" * 300_000
    response = await _call(
        app,
        "POST",
        "/webhooks/providers/prov_1?x=1",
        content=body,
        headers=bearer(app_key) | {"webhook-id": "msg_1", "X-Chiiki-Principal": "role=ops", "X-Request-ID": "rid-1"},
    )
    assert (response.status_code, response.text, response.headers["x-upstream"]) == (201, "300000", "yes")
    seen = recorder.requests[0]
    assert (seen["path"], seen["query"], seen["body"]) == ("/webhooks/providers/prov_1", b"x=1", body)
    assert b"authorization" not in seen["headers"]
    assert [name for name, _ in seen["raw_headers"] if name == b"x-chiiki-principal"] == [b"x-chiiki-principal"]
    assert seen["headers"][b"webhook-id"] == b"msg_1"
    assert seen["headers"][b"x-request-id"] == b"rid-1"
    principal = verify_principal(
        seen["headers"][b"x-chiiki-principal"].decode(),
        seen["headers"][b"x-chiiki-signature"].decode(),
        TEST_SECRET.encode(),
    )
    assert principal.role == "app"


@pytest.mark.parametrize(
    "error,status,code",
    [
        (httpx.ConnectError("refused"), 502, "upstream_unavailable"),
        (httpx.ReadTimeout("slow"), 504, "upstream_timeout"),
    ],
)
async def test_upstream_failure_is_an_error_body_and_a_post_is_not_retried(settings, db, error, status, code):
    transport = FailingTransport(error)
    app = await _gateway_with(settings, db, {"subsidy": transport})
    response = await _call(app, "POST", "/subsidy/programs/local10000/calculate", json={"fiscal_year": 2023})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert transport.calls == 1


async def test_gateway_readyz_names_a_service_that_is_down(settings, db, upstream_transports):
    transports = upstream_transports | {"matching": FailingTransport(httpx.ConnectError("refused"))}
    app = await _gateway_with(settings, db, transports)
    response = await _call(app, "GET", "/readyz")
    assert response.status_code == 503
    assert "matching" in response.json()["error"]["message"]


async def test_key_use_is_recorded_through_the_gateway(client, db, app_key):
    from common.models import ApiKey

    await client.get(YUBARI, headers=bearer(app_key))
    async with db.sessionmaker() as session:
        assert (await session.get(ApiKey, app_key.split("_")[1])).last_used_at is not None


async def test_a_service_url_with_a_path_keeps_it_before_the_callers_path(settings, db, app_key):
    recorder = Recorder()
    settings = settings.model_copy(update={"subsidy_url": "http://subsidy.internal/chiiki/"})
    app = await _gateway_with(settings, db, {"subsidy": httpx.ASGITransport(app=recorder)})
    await _call(app, "GET", "/subsidy/municipalities/012092?limit=5", headers=bearer(app_key))
    assert (recorder.requests[0]["path"], recorder.requests[0]["query"]) == (
        "/chiiki/subsidy/municipalities/012092",
        b"limit=5",
    )
