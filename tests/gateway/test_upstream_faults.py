"""What the gateway does with bytes a caller may send in headers, and with a service that is not running."""

import httpx

from tests.harness import bearer, closed_url, upstream_errors

YUBARI = "/subsidy/municipalities/012092"


async def test_header_bytes_are_forwarded_as_sent_when_utf8_and_as_latin1_characters_otherwise(
    gateway_with, app_key, upstream_apps
):
    seen: list[list[tuple[bytes, bytes]]] = []
    subsidy = upstream_apps["subsidy"]

    async def recording(scope, receive, send):
        seen.append(scope["headers"])
        await subsidy(scope, receive, send)

    upstream_apps["subsidy"] = recording
    async with gateway_with() as client:
        response = await client.get(
            YUBARI,
            headers=bearer(app_key) | {"User-Agent": "caf\xe9 \xff".encode("latin-1"), "X-Note": "日本".encode()},
        )
    assert response.status_code == 200, response.text
    forwarded = dict(seen[0])
    # aiohttp writes header text as UTF-8: bytes that are no UTF-8 go on as the ISO-8859-1 characters they are.
    assert (forwarded[b"user-agent"], forwarded[b"x-note"]) == ("caf\xe9 \xff".encode(), "日本".encode())


async def test_a_control_character_in_a_header_is_a_400_naming_it(gateway_with, app_key):
    async with gateway_with() as client:
        response = await client.get(YUBARI, headers=bearer(app_key) | {"X-Note": b"a\x01b"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "x-note"


def _count(kind: str) -> float:
    return upstream_errors("subsidy", kind)


async def _stopped_subsidy(gateway_with, method: str, path: str) -> httpx.Response:
    """A request through a gateway whose subsidy service is down."""
    async with gateway_with(subsidy_url=closed_url()) as client:
        return await client.request(method, path)


async def test_a_stopped_service_is_a_connect_error_and_a_get_is_retried_once(gateway_with):
    before = {kind: _count(kind) for kind in ("connect_retried", "connect_error", "timeout")}
    response = await _stopped_subsidy(gateway_with, "GET", "/subsidy/programs")
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_unavailable"
    after = {kind: _count(kind) - before[kind] for kind in before}
    assert after == {"connect_retried": 1, "connect_error": 1, "timeout": 0}


async def test_a_post_to_a_stopped_service_is_502_and_not_retried(gateway_with):
    before = {kind: _count(kind) for kind in ("connect_retried", "connect_error", "timeout")}
    response = await _stopped_subsidy(gateway_with, "POST", "/subsidy/programs/local10000/calculate")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unavailable"
    after = {kind: _count(kind) - before[kind] for kind in before}
    assert after == {"connect_retried": 0, "connect_error": 1, "timeout": 0}
