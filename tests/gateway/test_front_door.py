"""What the gateway adds: body cap, CORS, security headers, docs offline, one OpenAPI document, metrics,
per-route timeouts and the retry rule."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.metrics import Gauge, on_scrape
from gateway.proxy import route_setting
from tests.harness import bearer

YUBARI = "/subsidy/municipalities/012092"
ORIGIN = "https://app.example.jp"


# --- request bodies ----------------------------------------------------------------------------------


async def test_oversize_body_is_413_before_reaching_a_service(gateway_with, app_key):
    async with gateway_with(max_body_bytes=1024) as client:
        response = await client.post("/subsidy/municipalities", content=b"x" * 1025, headers=bearer(app_key))
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        # Just under the cap passes the gateway (the service then answers for itself).
        assert (
            await client.post("/subsidy/municipalities", content=b"x" * 1024, headers=bearer(app_key))
        ).status_code != 413


async def test_a_named_route_may_take_a_larger_body(gateway_with, app_key):
    limits = {"POST /subsidy/calculate/batch": 4096}
    async with gateway_with(max_body_bytes=1024, route_max_body_bytes=limits) as client:
        batch = await client.post("/subsidy/calculate/batch", content=b"x" * 2048, headers=bearer(app_key))
        assert batch.status_code != 413  # the service answers for itself (422: not JSON)
        assert (
            await client.post("/subsidy/calculate/batch", content=b"x" * 4097, headers=bearer(app_key))
        ).status_code == 413
        assert (
            await client.post("/subsidy/municipalities", content=b"x" * 2048, headers=bearer(app_key))
        ).status_code == 413


async def test_oversize_chunked_body_is_413_too(gateway_with, app_key):
    async def chunks():
        for _ in range(10):
            yield b"y" * 200

    async with gateway_with(max_body_bytes=1024) as client:
        response = await client.post("/subsidy/municipalities", content=chunks(), headers=bearer(app_key))
        assert response.status_code == 413


# --- CORS and security headers ------------------------------------------------------------------------


async def test_cors_preflight_for_a_configured_origin(gateway_with):
    async with gateway_with(cors_origins=f"{ORIGIN}, https://ops.example.jp") as client:
        preflight = await client.options(
            YUBARI,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        simple = await client.get("/healthz", headers={"Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


async def test_cors_refuses_other_origins(gateway_with):
    async with gateway_with(cors_origins=ORIGIN) as client:
        preflight = await client.options(
            YUBARI, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 400
        assert (
            "access-control-allow-origin"
            not in (await client.get("/healthz", headers={"Origin": "https://evil.example"})).headers
        )


async def test_security_headers_on_proxied_and_error_responses(client, app_key):
    for response in (await client.get(YUBARI, headers=bearer(app_key)), await client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"


# --- documents ----------------------------------------------------------------------------------------


async def test_docs_are_served_with_local_assets(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/static-offline-docs/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


async def test_one_openapi_document_merges_every_service(client, service_apps):
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for name, app in service_apps.items():
        public = [p for p in app.openapi()["paths"] if p.startswith(f"/{name}/")]
        assert public and set(public) <= set(paths), name
    assert {"/healthz", "/readyz", "/metrics"} <= set(paths)  # the gateway's own, once
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    operation = paths["/matching/fields"]["get"]
    assert operation["security"] == [{"ApiKey": []}]
    assert "security" not in paths[YUBARI.replace("012092", "{code}")]["get"]  # open reference data
    operation = paths[YUBARI.replace("012092", "{code}")]["get"]
    assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "429" in operation["responses"]


async def test_openapi_is_503_when_a_service_is_down(gateway_with, upstream_transports):
    def unreachable(request):
        raise httpx.ConnectError("refused", request=request)

    upstream_transports["matching"] = httpx.MockTransport(unreachable)
    async with gateway_with() as client:
        response = await client.get("/openapi.json")
        assert response.status_code == 503 and "matching" in response.json()["error"]["message"]


# --- metrics --------------------------------------------------------------------------------------------


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


async def test_gateway_and_services_expose_prometheus_metrics(client, app_key, upstream_transports):
    await client.get(YUBARI, headers=bearer(app_key))
    gateway = await client.get("/metrics")
    assert gateway.status_code == 200 and gateway.headers["content-type"].startswith("text/plain")
    counted = {(s.labels["service"], s.labels["route"]) for s in samples(gateway.text, "chiiki_http_requests_total")}
    assert ("gateway", "/subsidy/…") in counted
    assert ("subsidy", "/subsidy/municipalities/{code}") in counted  # route templates, not raw ids
    assert samples(gateway.text, "chiiki_http_request_duration_seconds_bucket")
    async with httpx.AsyncClient(transport=upstream_transports["subsidy"], base_url="http://subsidy") as service:
        assert (await service.get("/metrics")).status_code == 200  # open for the scraper, no gateway signature


TEST_GAUGE = Gauge("chiiki_test_backlog", "a gauge set by a test's scrape hook")


async def test_a_service_can_add_gauges_read_at_scrape_time(service_apps):
    app = service_apps["mynapoint"]

    async def refresh(scraped_app):
        TEST_GAUGE.set(7 if scraped_app is app else -1)

    on_scrape(app, refresh)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mynapoint") as service:
        text = (await service.get("/metrics")).text
    assert samples(text, "chiiki_test_backlog")[0].value == 7


# --- upstream timeouts and retries -------------------------------------------------------------------------


def test_route_settings_pick_the_longest_matching_prefix():
    overrides = {"POST /subsidy/calculate": 30, "POST /subsidy/calculate/batch": 60, "GET /mynapoint": 20}
    assert route_setting("POST", "/subsidy/calculate/batch", 15, overrides) == 60
    assert route_setting("POST", "/subsidy/calculate", 15, overrides) == 30
    assert route_setting("GET", "/subsidy/calculate/batch", 15, overrides) == 15
    assert route_setting("GET", "/mynapoint/grants", 15, overrides) == 20


@pytest.fixture
def flaky_subsidy(upstream_transports):
    """The subsidy service behind a link whose first connection attempt fails."""
    real, calls = upstream_transports["subsidy"], []

    class FirstConnectFails(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            calls.append(request.method)
            if len(calls) == 1:
                raise httpx.ConnectError("refused", request=request)
            return await real.handle_async_request(request)

    upstream_transports["subsidy"] = FirstConnectFails()
    return calls


async def test_a_get_that_could_not_connect_is_retried_once(gateway_with, app_key, flaky_subsidy):
    async with gateway_with() as client:
        assert (await client.get(YUBARI, headers=bearer(app_key))).status_code == 200
    assert flaky_subsidy == ["GET", "GET"]


async def test_a_post_is_never_retried(gateway_with, app_key, flaky_subsidy):
    async with gateway_with() as client:
        response = await client.post("/subsidy/municipalities", json={}, headers=bearer(app_key))
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unavailable"
    assert flaky_subsidy == ["POST"]


async def test_a_slow_route_times_out_with_504(gateway_with, app_key, upstream_transports):
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    upstream_transports["subsidy"] = httpx.MockTransport(slow)
    async with gateway_with(upstream_route_timeouts={"GET /subsidy/municipalities": 2.5}) as client:
        response = await client.get(YUBARI, headers=bearer(app_key))
    assert response.status_code == 504 and "2.5 s" in response.json()["error"]["message"]


async def test_an_encoded_control_character_in_the_path_is_a_4xx_not_a_500(client, app_key):
    # Found by the fuzz test: the decoded path used to be forwarded, and %0B is no valid URL character.
    response = await client.get("/subsidy/municipalities/01%0B2092", headers=bearer(app_key))
    assert response.status_code == 422 and response.json()["error"]["field"] == "code"


def test_schemas_with_one_name_but_different_shapes_are_kept_apart():
    from gateway.openapi import merge_documents

    def service_document(path: str, shape: dict) -> dict:
        ref = {"$ref": "#/components/schemas/Item"}
        return {
            "paths": {path: {"get": {"responses": {"200": {"content": {"application/json": {"schema": ref}}}}}}},
            "components": {"schemas": {"Item": shape}},
        }

    gateway = {"openapi": "3.1.0", "info": {"title": "chiiki", "version": "0"}, "paths": {}}
    merged = merge_documents(
        gateway,
        {
            "subsidy": service_document(
                "/subsidy/items", {"type": "object", "properties": {"yen": {"type": "integer"}}}
            ),
            "matching": service_document("/matching/items", {"type": "string"}),
        },
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Item"]["type"] == "object" and schemas["matching_Item"]["type"] == "string"
    matching_ref = merged["paths"]["/matching/items"]["get"]["responses"]["200"]["content"]["application/json"]
    assert matching_ref["schema"] == {"$ref": "#/components/schemas/matching_Item"}
