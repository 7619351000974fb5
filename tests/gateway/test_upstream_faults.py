"""What the gateway does with bytes a caller may send in headers, and with a service that is not running."""

import socket

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY

from tests.conftest import bearer

YUBARI = "/subsidy/municipalities/012092"


async def test_a_non_ascii_header_byte_is_forwarded_as_sent(gateway_with, app_key, upstream_transports):
    seen: list[list[tuple[bytes, bytes]]] = []
    subsidy = upstream_transports["subsidy"]

    async def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.raw)
        return await subsidy.handle_async_request(request)

    upstream_transports["subsidy"] = httpx.MockTransport(recording)
    async with gateway_with() as client:
        response = await client.get(
            YUBARI,
            headers=bearer(app_key) | {"User-Agent": "caf\xe9 \xff".encode("latin-1"), "X-Note": "日本".encode()},
        )
    assert response.status_code == 200, response.text
    forwarded = dict(seen[0])
    assert (forwarded[b"user-agent"], forwarded[b"x-note"]) == (b"caf\xe9 \xff", "日本".encode())


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _count(kind: str) -> float:
    return (
        REGISTRY.get_sample_value("chiiki_gateway_upstream_errors_total", {"upstream": "subsidy", "kind": kind}) or 0.0
    )


async def _stopped_subsidy(settings, db, upstream_transports, method: str, path: str) -> httpx.Response:
    """A request through a gateway whose subsidy service is down, on the deployed (aiohttp) transport."""
    from gateway.main import create_app

    transports = {name: t for name, t in upstream_transports.items() if name != "subsidy"}
    stopped = settings.model_copy(update={"subsidy_url": f"http://127.0.0.1:{_closed_port()}"})
    app = create_app(settings=stopped, db=db, transports=transports)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client,
    ):
        return await client.request(method, path)


async def test_a_stopped_service_is_a_connect_error_and_a_get_is_retried_once(settings, db, upstream_transports):
    before = {kind: _count(kind) for kind in ("connect_retried", "connect_error", "timeout")}
    response = await _stopped_subsidy(settings, db, upstream_transports, "GET", "/subsidy/programs")
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_unavailable"
    after = {kind: _count(kind) - before[kind] for kind in before}
    assert after == {"connect_retried": 1, "connect_error": 1, "timeout": 0}


async def test_a_post_to_a_stopped_service_is_502_and_not_retried(settings, db, upstream_transports):
    before = {kind: _count(kind) for kind in ("connect_retried", "connect_error", "timeout")}
    response = await _stopped_subsidy(
        settings, db, upstream_transports, "POST", "/subsidy/programs/local10000/calculate"
    )
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unavailable"
    after = {kind: _count(kind) - before[kind] for kind in before}
    assert after == {"connect_retried": 0, "connect_error": 1, "timeout": 0}
