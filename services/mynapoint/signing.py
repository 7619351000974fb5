"""Standard Webhooks (standardwebhooks.com) signing and verification, and which endpoint URLs are acceptable."""

import asyncio
import base64
import ipaddress
import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

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
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Unprocessable("webhook_url must be an absolute http(s) URL", field="webhook_url")
    if allow_insecure:
        return
    if parts.scheme != "https":
        raise Unprocessable("webhook_url must use https", field="webhook_url")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except OSError:
        raise Unprocessable(f"webhook_url host {parts.hostname} does not resolve", field="webhook_url") from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise Unprocessable("webhook_url must resolve to a public address", field="webhook_url")
