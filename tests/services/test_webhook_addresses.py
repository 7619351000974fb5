"""Which provider webhook URLs are accepted. Only IP literals and a fake resolver: nothing here resolves a public
name or sends anything off the machine."""

import pytest

from common.errors import Unprocessable
from services.mynapoint import signing
from tests.conftest import bearer, make_key

PRIVATE = [
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix, link-local 169.254.169.254 (cloud metadata)
    "64:ff9b::7f00:1",  # NAT64 of loopback
    "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use prefix, /96 layout
    "64:ff9b:1:a9fe:a9:fe00::",  # NAT64 local-use prefix, /48 layout (RFC 6052)
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "::a9fe:a9fe",  # IPv4-compatible
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "ff0e::1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "0.0.0.0",
    "10.0.0.8",
    "127.0.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "192.0.2.1",
    "198.18.0.1",
]
PUBLIC = [
    "8.8.8.8",
    "2606:4700::1111",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "::ffff:8.8.8.8",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
]  # Teredo: server 65.54.227.120, client 8.8.8.8


@pytest.mark.parametrize("address", PRIVATE)
def test_private_multicast_and_reserved_addresses_are_not_public(address):
    assert not signing.is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_their_transition_forms_are_public(address):
    assert signing.is_public_address(address)


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "224.0.0.1"])
async def test_the_production_check_refuses_the_reported_addresses(address):
    with pytest.raises(Unprocessable) as refused:
        await signing.check_webhook_url(f"https://{_literal(address)}/hook", allow_insecure=False)
    assert refused.value.field == "webhook_url"


async def test_a_name_is_judged_by_every_address_it_resolves_to(monkeypatch):
    async def fake(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.pay.example", 443)
        return ["8.8.8.8", "64:ff9b::a9fe:a9fe"]

    monkeypatch.setattr(signing, "resolve", fake)
    with pytest.raises(Unprocessable, match="64:ff9b::a9fe:a9fe"):
        await signing.check_webhook_url("https://hooks.pay.example/hook", allow_insecure=False)


async def test_an_ip_literal_is_never_looked_up(monkeypatch):
    async def no_lookup(*_args: object) -> list[str]:
        raise AssertionError("an IP literal was sent to the resolver")

    monkeypatch.setattr(signing.asyncio, "get_running_loop", no_lookup)
    assert await signing.resolve("2606:4700::1111", 443) == ["2606:4700::1111"]


BROKEN_URLS = [
    "https://hooks.example:70000/x",
    "https://hooks.example:99999999999/x",
    "https://[::1/x",
    "https://[zz::1]/x",
    "https://[64:ff9b::a9fe:a9fe:1:2:3:4:5]/x",
    "http://hooks.example:-1/x",
]


@pytest.mark.parametrize("url", BROKEN_URLS)
@pytest.mark.parametrize("allow_insecure", [True, False])
async def test_a_broken_url_is_refused_naming_the_field(url, allow_insecure):
    with pytest.raises(Unprocessable) as refused:
        await signing.check_webhook_url(url, allow_insecure=allow_insecure)
    assert refused.value.field == "webhook_url"


@pytest.mark.parametrize("url", BROKEN_URLS[:3])
async def test_a_broken_url_is_422_on_onboarding_and_on_update(client, db, url):
    ops = bearer(await make_key(db, "ops"))
    created = await client.post("/mynapoint/providers", headers=ops, json={"name": "壊れペイ", "webhook_url": url})
    assert created.status_code == 422 and created.json()["error"]["field"] == "webhook_url", created.text
    provider = (
        await client.post(
            "/mynapoint/providers", headers=ops, json={"name": "良いペイ", "webhook_url": "http://provider.test/hooks"}
        )
    ).json()
    updated = await client.patch(f"/mynapoint/providers/{provider['id']}", headers=ops, json={"webhook_url": url})
    assert updated.status_code == 422 and updated.json()["error"]["field"] == "webhook_url", updated.text
