"""DNS rebinding: in production mode the delivery worker resolves the provider's host at each attempt, refuses a
non-public address, and connects to the very address it checked (Host header and TLS SNI keep the name)."""

import pytest
from sqlalchemy import update
from sqlmodel import select

from common.models import Grant, OutboxEvent, Provider
from services.mynapoint import signing
from tests.mynapoint.builders import applied_grant, worker

HOOK_URL = "https://hooks.pay.example:8443/webhooks"
PUBLIC = "8.8.4.4"


class Resolver:
    """Stands in for DNS: answers with `addresses`, which a test changes to rebind the name."""

    def __init__(self, *addresses: str):
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.addresses


@pytest.fixture
def resolver(monkeypatch) -> Resolver:
    fake = Resolver(PUBLIC)
    monkeypatch.setattr(signing, "resolve", fake)
    return fake


@pytest.fixture
def production(settings):
    return settings.model_copy(update={"allow_insecure_webhooks": False})


async def _pending_delivery(client, app_key, provider, program, session) -> dict:
    """A grant.created waiting for a provider whose https hostname passed the onboarding check."""
    grant = await applied_grant(client, app_key, provider, program)
    await session.exec(update(Provider).where(Provider.id == provider["id"]).values(webhook_url=HOOK_URL))
    await session.commit()
    return grant


async def _event(session) -> OutboxEvent:
    (event,) = (await session.exec(select(OutboxEvent))).all()
    await session.refresh(event)
    return event


async def test_the_request_goes_to_the_checked_address_under_the_provider_name(
    client, app_key, provider, program, receiver, receiver_client, db, production, session, resolver
):
    await _pending_delivery(client, app_key, provider, program, session)
    assert await worker(db, production, receiver_client).run_once() == 1
    (request,) = receiver.received
    assert str(request.url) == f"https://{PUBLIC}:8443/webhooks"
    assert request.headers["host"] == "hooks.pay.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.pay.example"
    assert resolver.asked == [("hooks.pay.example", 8443)]
    assert (await _event(session)).status == "delivered"


@pytest.mark.parametrize("rebound", [["10.0.0.5"], ["127.0.0.1"], [PUBLIC, "169.254.169.254"], ["::1"]])
async def test_a_name_rebound_to_a_private_address_is_never_contacted(
    client, app_key, provider, program, receiver, receiver_client, db, production, session, resolver, rebound
):
    grant = await _pending_delivery(client, app_key, provider, program, session)
    resolver.addresses = rebound
    await worker(db, production, receiver_client).run_once()
    event = await _event(session)
    assert (event.status, event.attempts, event.last_status_code) == ("pending", 1, None)  # retried, as if unreachable
    assert "hooks.pay.example resolves to" in event.last_error and "public address" in event.last_error
    for _ in range(2):  # the rest of the three-attempt schedule
        await worker(db, production, receiver_client).run_once()
    event = await _event(session)
    assert event.status == "failed" and "public address" in event.last_error
    assert receiver.received == []
    stored = await session.get(Grant, grant["id"])
    await session.refresh(stored)
    assert stored.status == "voided"  # like any delivery that finally failed


async def test_a_name_that_stops_resolving_is_retried(
    client, app_key, provider, program, receiver, receiver_client, db, production, session, resolver
):
    await _pending_delivery(client, app_key, provider, program, session)
    resolver.addresses = []
    await worker(db, production, receiver_client).run_once()
    event = await _event(session)
    assert (event.status, event.last_error) == ("pending", "webhook_url host hooks.pay.example does not resolve")
    resolver.addresses = [PUBLIC]
    await worker(db, production, receiver_client).run_once()
    assert (await _event(session)).status == "delivered"


async def test_development_mode_sends_to_the_name_as_configured(
    client, app_key, provider, program, receiver, receiver_client, db, settings, resolver
):
    assert settings.insecure_webhooks_allowed()
    await applied_grant(client, app_key, provider, program)
    await worker(db, settings, receiver_client).run_once()
    (request,) = receiver.received
    assert str(request.url) == "http://provider.test/webhooks" and "sni_hostname" not in request.extensions
    assert resolver.asked == []


async def test_an_ipv6_address_is_pinned_in_brackets(resolver):
    resolver.addresses = ["2001:4860:4860::8844"]
    target = await signing.destination("https://hooks.pay.example/a?b=1", allow_insecure=False)
    assert target.url == "https://[2001:4860:4860::8844]/a?b=1"
    assert target.headers == {"host": "hooks.pay.example"}
