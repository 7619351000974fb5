"""A bug in the gateway is the logged 500 error body with the request id, counted as a 500, on both of its paths:
a route of its own (through the FastAPI app) and a proxied request (the lean path)."""

import logging

import pytest
from prometheus_client import REGISTRY

from tests.harness import bearer


def _answered_500(route: str) -> float:
    labels = {"service": "gateway", "method": "GET", "route": route, "status": "500"}
    return REGISTRY.get_sample_value("chiiki_http_requests_total", labels) or 0.0


@pytest.mark.parametrize(
    "path,route", [("/auth/whoami", "/auth/whoami"), ("/subsidy/municipalities/012092", "/subsidy/…")]
)
async def test_a_bug_is_the_logged_500_with_the_request_id(gateway_app, client, app_key, caplog, path, route):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the rate limiter")

    gateway_app.state.rate_limiter.check = broken
    before = _answered_500(route)
    caplog.set_level(logging.INFO)
    response = await client.get(path, headers=bearer(app_key) | {"X-Request-ID": "req-bug-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-bug-1"
    assert response.headers["x-content-type-options"] == "nosniff"  # the front door's headers, as on any answer
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "an unexpected error occurred; it has been logged",
        "request_id": "req-bug-1",
    }
    logged = [r for r in caplog.records if r.getMessage() == f"unhandled error in GET {path}"]
    assert logged and logged[0].exc_info and logged[0].request_id == "req-bug-1"
    assert _answered_500(route) == before + 1
