"""A database that is down, or that dropped the pool's connections, is a 503 with Retry-After, never a 500;
and once it is back the next request succeeds (the pool does not ping at checkout)."""

import httpx
import psycopg
import pytest

from common.auth import Principal, sign_principal
from common.db import Database
from common.migrations import upgrade
from services.mynapoint.main import create_app
from tests.harness import TEST_SECRET, create_postgres_database, drop_postgres_database

APPLICATION = {"myki_id": "resident-0001", "provider_id": "prov_x", "provider_account_id": "acct-1"}


def signed_as(role: str) -> dict[str, str]:
    """The gateway's headers for `role`, signed now: a signature older than five minutes is refused."""
    return sign_principal(Principal(role=role, key_id="k"), TEST_SECRET.encode())


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test")


async def _requests(client: httpx.AsyncClient) -> list[httpx.Response]:
    """One request on the ORM path and one on the driver-level path (a resident's application)."""
    listing = await client.get("/mynapoint/providers", headers=signed_as("ops"))
    application = await client.post(
        "/mynapoint/programs/prog_none/applications", headers=signed_as("app"), json=APPLICATION
    )
    return [listing, application]


async def test_a_database_that_cannot_be_reached_is_a_503_with_retry_after(settings):
    db = Database.from_url("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
    try:
        async with _client(create_app(settings=settings, db=db)) as client:
            answers = await _requests(client)
    finally:
        await db.dispose()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error"]["code"] == "database_unavailable"


@pytest.mark.needs_postgresql
async def test_after_the_server_drops_every_connection_no_request_is_a_500_and_the_pool_recovers(settings):
    url = create_postgres_database()
    db = Database.from_url(url)
    try:
        upgrade(url)
        async with _client(create_app(settings=settings, db=db)) as client:
            assert [answer.status_code for answer in await _requests(client)] == [200, 404]
            _terminate_every_other_connection(url)
            for answer in await _requests(client):  # a stale connection is found out by its first use
                assert answer.status_code in (200, 404) or (
                    answer.status_code == 503 and answer.headers["retry-after"] == "1"
                ), answer.text
            assert [answer.status_code for answer in await _requests(client)] == [200, 404]
    finally:
        await db.dispose()
        drop_postgres_database(url)


def _terminate_every_other_connection(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


async def test_a_request_that_waits_too_long_for_a_pooled_connection_is_a_503(settings):
    db = Database.from_url(settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with db.engine.connect(), _client(create_app(settings=settings, db=db)) as client:
            answer = await client.get("/mynapoint/providers", headers=signed_as("ops"))  # the only connection is taken
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
    finally:
        await db.dispose()
