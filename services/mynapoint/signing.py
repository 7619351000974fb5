"""Standard Webhooks (standardwebhooks.com) signing and verification, and which endpoint URLs are acceptable."""

import asyncio
import base64
import ipaddress
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from common.errors import Unprocessable

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign_headers(msg_id: str, body: str, secrets_: list[str], now: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per live secret (two during a rotation)."""
    timestamp = (now or datetime.now(UTC)).replace(microsecond=0)
    signatures = " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets_)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signatures, "content-type": "application/json"}


def verify(body: bytes, headers: dict[str, str], secrets_: list[str]) -> bool:
    """True when any live secret signed these exact bytes within ±5 minutes (the package's tolerance)."""
    for secret in secrets_:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return True
        except Exception:  # noqa: BLE001 — the package raises several types for malformed headers
            continue
    return False


async def check_webhook_url(url: str, *, allow_insecure: bool) -> None:
    """https to a public address, unless settings allow plain http and private hosts (development)."""
    _absolute_http(url)
    if not allow_insecure:
        await public_address(url)


@dataclass(frozen=True)
class Destination:
    """Where to send a webhook: the URL (its host replaced by the checked address) and what restores the name."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def destination(url: str, *, allow_insecure: bool) -> Destination:
    """Resolve and check the host now, and pin the connection to the address that was checked.

    A name that resolved to a public address at onboarding may resolve to a private one later (DNS rebinding),
    and a second lookup by the HTTP client could differ from the one checked. So the request goes to the IP;
    the Host header and TLS SNI (which is also the name the certificate is verified against) keep the name.
    """
    _absolute_http(url)
    if allow_insecure:
        return Destination(url)
    address = await public_address(url)
    original = httpx.URL(url)
    return Destination(str(original.copy_with(host=address)), headers={"host": original.netloc.decode("ascii")},
                       extensions={"sni_hostname": original.raw_host.decode("ascii")})


def _absolute_http(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Unprocessable("webhook_url must be an absolute http(s) URL", field="webhook_url")


async def public_address(url: str) -> str:
    """The https URL's host resolved now: the first address, provided every address it resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise Unprocessable("webhook_url must use https", field="webhook_url")
    try:
        addresses = await resolve(parts.hostname, parts.port or 443)
    except OSError:
        addresses = []
    if not addresses:
        raise Unprocessable(f"webhook_url host {parts.hostname} does not resolve", field="webhook_url")
    for address in addresses:
        if not ipaddress.ip_address(address).is_global:
            raise Unprocessable(f"webhook_url must resolve to a public address; {parts.hostname} resolves to "
                                f"{address}", field="webhook_url")
    return addresses[0]


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them (tests replace this)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]
