"""Standard Webhooks (standardwebhooks.com) signing and verification, and which endpoint URLs are acceptable."""

import asyncio
import base64
import ipaddress
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit

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
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def verify(body: bytes, headers: dict[str, str], secrets_: list[str]) -> bool:
    """True when any live secret signed these exact bytes within ±5 minutes (the package's tolerance)."""
    for secret in secrets_:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return True
        except Exception:  # the package raises several types for malformed headers
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
    return Destination(
        str(original.copy_with(host=address)),
        headers={"host": original.netloc.decode("ascii")},
        extensions={"sni_hostname": original.raw_host.decode("ascii")},
    )


def _absolute_http(url: str) -> None:
    parts = _split(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Unprocessable("webhook_url must be an absolute http(s) URL", field="webhook_url")


def _split(url: str) -> SplitResult:
    """The URL's parts, its port read once here: a port over 65535 or a broken IPv6 literal is the caller's
    mistake in webhook_url, which urllib reports as a bare ValueError."""
    try:
        parts = urlsplit(url)
        _ = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise Unprocessable(f"webhook_url is not a valid URL: {exc}", field="webhook_url") from None
    return parts


async def public_address(url: str) -> str:
    """The https URL's host resolved now: the first address, provided every address it resolves to is public."""
    parts = _split(url)
    if parts.scheme != "https" or not parts.hostname:
        raise Unprocessable("webhook_url must use https", field="webhook_url")
    try:
        addresses = await resolve(parts.hostname, parts.port or 443)
    except OSError:
        addresses = []
    if not addresses:
        raise Unprocessable(f"webhook_url host {parts.hostname} does not resolve", field="webhook_url")
    for address in addresses:
        if not is_public_address(address):
            raise Unprocessable(
                f"webhook_url must resolve to a public address; {parts.hostname} resolves to {address}",
                field="webhook_url",
            )
    return addresses[0]


# IPv6 forms that carry an IPv4 address (RFC 6052 NAT64, RFC 3056 6to4, RFC 4380 Teredo, mapped and compatible):
# a packet to one ends up at the IPv4 address, so that address is what must be public.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Where RFC 6052 puts the IPv4 address for each prefix length a local-use NAT64 may choose within its /48:
# the bytes of the address before and after the reserved byte 8.
NAT64_LAYOUTS = {
    48: (slice(6, 8), slice(9, 11)),
    56: (slice(7, 8), slice(9, 12)),
    64: (slice(8, 8), slice(9, 13)),
    96: (slice(12, 16), slice(16, 16)),
}


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 transition form leads to (each possible reading), or None for plain IPv6."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the Teredo server and the client behind it
    packed = address.packed
    if address in NAT64_WELL_KNOWN or address in IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(packed[12:])]
    if address in NAT64_LOCAL_USE:
        return [ipaddress.IPv4Address(packed[before] + packed[after]) for before, after in NAT64_LAYOUTS.values()]
    return None


def is_public_address(text: str) -> bool:
    """A globally reachable unicast address: not private, loopback, link-local, shared, documentation, multicast
    or reserved, nor an IPv6 form of any of those."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return all(_is_public_unicast(ipv4) for ipv4 in embedded)
    return _is_public_unicast(address)


def _is_public_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them (tests replace this); an IP literal as it is."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
