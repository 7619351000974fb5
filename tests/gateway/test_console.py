"""The console's files through the gateway: the page at /console and /console/ and its strict headers."""

import pytest

from gateway.middleware import CONSOLE_CSP
from gateway.proxy import upstream_for

REQUIRED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "connect-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(policy: str) -> dict[str, str]:
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())


def test_the_console_policy_allows_nothing_beyond_its_own_files():
    policy = directives(CONSOLE_CSP)
    assert policy == REQUIRED_CSP
    assert "unsafe" not in CONSOLE_CSP


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/pages/town.js", "text/javascript"),
    ],
)
async def test_console_files_carry_the_strict_headers(client, path, media_type):
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    assert directives(response.headers["content-security-policy"]) == REQUIRED_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_both_console_addresses_answer_the_page_with_no_inline_script_or_style(client):
    page = (await client.get("/console")).text
    assert page == (await client.get("/console/")).text
    assert '<script type="module" src="/console/app.js"></script>' in page
    assert "<style" not in page and "style=" not in page
    assert page.count("<script") == 1


async def test_a_missing_console_file_is_the_error_envelope_with_the_console_policy(client):
    response = await client.get("/console/pages/nothing-here.js")
    assert response.status_code == 404
    assert directives(response.headers["content-security-policy"]) == REQUIRED_CSP


async def test_the_api_keeps_its_own_policy(client):
    response = await client.get("/subsidy/programs")
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/app.js", "/console/pages/town.js"])
def test_the_lean_proxy_path_never_takes_a_console_path(path):
    # GatewayApp hands a request to the lean path only when it names a service (gateway/front.py).
    assert upstream_for(path) is None
