"""A gateway built with chosen settings and a fake clock, in front of the in-process services."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.gateway.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway_with(settings, db, upstream_apps, clock) -> Callable:
    """`async with gateway_with(rate_limit_key_burst=2) as client:` — a client to a gateway with those settings."""
    from gateway.main import create_app

    @asynccontextmanager
    async def build(**overrides) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            settings=settings.model_copy(update=overrides),
            db=db,
            rate_limit_clock=clock,
        )
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")
        async with LifespanManager(app), client:
            yield client

    return build
