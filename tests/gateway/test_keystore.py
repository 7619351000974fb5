"""The gateway's direct key reads (no ORM), against committed keys in the run's database on each backend."""

import asyncio
import os
import select
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import delete, text

from common.auth import check_key, create_api_key, record_key_use, revoke_api_key, rotate_api_key, use_is_stale
from common.db import run_in_session
from common.errors import Unauthorized
from common.models import ApiKey
from gateway.keystore import KeyStore, KeyStoreUnavailable, PostgresKeyStore, SqliteKeyStore, open_key_store
from tests.harness import bearer

LABEL = "keystore-test"


@pytest.fixture
async def committed_key(database_url) -> AsyncIterator[tuple[str, str]]:
    """A municipality key committed to the database (the test transaction would hide it); deleted afterwards."""

    async def create(session):
        api_key, plaintext = await create_api_key(session, "municipality", municipality_code="012092", label=LABEL)
        return api_key.id, plaintext

    yield await run_in_session(database_url, create)
    await run_in_session(database_url, lambda session: session.exec(delete(ApiKey).where(ApiKey.label == LABEL)))


@pytest.fixture
async def store(database_url):
    store = await open_key_store(database_url)
    await listening(store)
    yield store
    await store.close()


async def listening(store) -> None:
    """On PostgreSQL, until the store's listener is connected (it connects in the background)."""
    for _ in range(500):
        if not isinstance(store, PostgresKeyStore) or store.listener.connection is not None:
            return
        await asyncio.sleep(0.01)


async def heard(store) -> None:
    """PostgreSQL tells listeners of a commit a moment after it: until the notification has reached the store
    (its socket, or its listener's task), bounded, so that the next lookup is the first one after it. SQLite's
    version is read at every lookup."""
    if not isinstance(store, PostgresKeyStore):
        return
    for _ in range(500):
        connection = store.listener.connection
        assert connection is not None
        if store.listener.pending or select.select([connection.fileno()], [], [], 0)[0]:
            return
        await asyncio.sleep(0.01)


async def test_the_store_for_each_database_reads_the_driver_directly(database_url, store):
    expected = SqliteKeyStore if database_url.startswith("sqlite") else PostgresKeyStore
    assert isinstance(store, expected)


async def test_a_direct_read_gives_what_the_key_binds_and_typed_timestamps(database_url, store, committed_key):
    key_id, plaintext = committed_key
    record = await check_key(store.get, f"Bearer {plaintext}")
    assert (record.id, record.role, record.municipality_code, record.provider_id) == (
        key_id,
        "municipality",
        "012092",
        None,
    )
    assert record.last_used_at is None and use_is_stale(record)

    await run_in_session(database_url, lambda session: record_key_use(session, key_id))
    await heard(store)
    assert not use_is_stale(await store.get(key_id))  # a datetime that compares with now, on both backends


async def test_a_direct_read_sees_a_revocation_committed_elsewhere_at_once(database_url, store, committed_key):
    key_id, plaintext = committed_key
    assert await check_key(store.get, f"Bearer {plaintext}") is not None
    assert key_id in store.cache  # the next lookup would be served from memory, were it not for the revocation
    await run_in_session(database_url, lambda session: revoke_api_key(session, key_id))
    await heard(store)
    with pytest.raises(Unauthorized, match="revoked"):
        await check_key(store.get, f"Bearer {plaintext}")


async def test_a_direct_read_refuses_a_wrong_secret_an_unknown_id_and_an_expired_key(
    database_url, store, committed_key
):
    key_id, plaintext = committed_key
    with pytest.raises(Unauthorized, match="unknown"):
        await check_key(store.get, f"Bearer chk_{key_id}_not-the-secret")
    with pytest.raises(Unauthorized, match="unknown"):
        await check_key(store.get, "Bearer chk_0000000000000000_whatever")

    async def rotate_then_expire(session):
        await rotate_api_key(session, key_id, grace_seconds=60)
        (await session.get(ApiKey, key_id)).expires_at -= timedelta(seconds=120)

    await run_in_session(database_url, rotate_then_expire)
    await heard(store)
    with pytest.raises(Unauthorized, match="expired"):
        await check_key(store.get, f"Bearer {plaintext}")


async def test_the_gateway_on_its_own_database_refuses_a_key_revoked_by_another_process(
    settings, upstream_apps, database_url, committed_key
):
    """As deployed: given no Database, the gateway opens its own and reads keys through the direct store."""
    from gateway.main import create_app

    key_id, plaintext = committed_key
    app = create_app(settings=settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client,
    ):
        assert (await client.get("/subsidy/municipalities/012092", headers=bearer(plaintext))).status_code == 200
        await run_in_session(database_url, lambda session: revoke_api_key(session, key_id))
        await heard(app.state.keys)
        refused = await client.get("/subsidy/municipalities/012092", headers=bearer(plaintext))
        store = app.state.keys
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert isinstance(store, SqliteKeyStore if database_url.startswith("sqlite") else PostgresKeyStore)


async def test_an_in_memory_database_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="in-memory"):
        await open_key_store("sqlite:///:memory:")


async def test_a_database_that_cannot_answer_is_a_503_with_retry_after(tmp_path):
    unmigrated = SqliteKeyStore(str(tmp_path / "empty.db"))  # no api_key table: the read fails
    with pytest.raises(KeyStoreUnavailable) as raised:
        await check_key(unmigrated.get, "Bearer chk_0000000000000000_whatever")
    assert raised.value.status_code == 503 and raised.value.headers == {"Retry-After": "5"}
    await unmigrated.close()


async def test_a_postgresql_server_that_cannot_be_reached_is_a_503_after_a_bounded_wait():
    unreachable = PostgresKeyStore("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", wait_seconds=0.5)
    await unreachable.open()
    with pytest.raises(KeyStoreUnavailable, match="retry shortly"):
        await unreachable.get("0000000000000000")
    await unreachable.close()


def chiiki_command(database_url: str, *args: str) -> str:
    """`chiiki ARGS` in a process of its own, on this database; what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "common.cli", *args],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, CHIIKI_DATABASE_URL=database_url),
        timeout=60,
    )
    return done.stdout.strip()


@pytest.fixture
async def cached_gateway(settings, upstream_apps) -> AsyncIterator[tuple[httpx.AsyncClient, KeyStore]]:
    """The gateway as deployed (its own key store, cache on), listening for key changes before the first request."""
    from gateway.main import create_app

    app = create_app(settings=settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client,
    ):
        await listening(app.state.keys)
        yield client, app.state.keys


async def test_a_cached_key_revoked_by_another_process_is_refused_from_the_next_request(
    database_url, cached_gateway, committed_key
):
    client, store = cached_gateway
    key_id, plaintext = committed_key
    for _ in range(2):
        assert (await client.get("/subsidy/municipalities/012092", headers=bearer(plaintext))).status_code == 200
    assert key_id in store.cache

    chiiki_command(database_url, "keys", "revoke", key_id)
    await heard(store)
    refused = await client.get("/subsidy/municipalities/012092", headers=bearer(plaintext))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


async def test_a_cached_key_rotated_by_another_process_is_refused_and_its_successor_accepted(
    database_url, cached_gateway, committed_key
):
    client, store = cached_gateway
    key_id, plaintext = committed_key
    assert (await client.get("/subsidy/municipalities/012092", headers=bearer(plaintext))).status_code == 200
    assert key_id in store.cache

    successor = chiiki_command(database_url, "keys", "rotate", key_id).splitlines()[-1]
    await heard(store)
    refused = await client.get("/subsidy/municipalities/012092", headers=bearer(plaintext))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert (await client.get("/subsidy/municipalities/012092", headers=bearer(successor))).status_code == 200


@pytest.mark.postgresql_only  # SQLite reads its version on every lookup: there is no listener to lose
async def test_a_lost_listener_turns_the_cache_off_until_it_is_back(database_url, store, committed_key):
    assert isinstance(store, PostgresKeyStore)
    key_id, plaintext = committed_key
    await check_key(store.get, f"Bearer {plaintext}")
    assert key_id in store.cache
    listener = store.listener.connection
    assert listener is not None
    await run_in_session(
        database_url,
        lambda session: session.exec(
            text("SELECT pg_terminate_backend(:pid)"), params={"pid": listener.info.backend_pid}
        ),
    )
    for _ in range(500):  # until the listener has heard its connection close (bounded)
        if store.listener.connection is not listener:
            break
        await asyncio.sleep(0.01)

    await check_key(store.get, f"Bearer {plaintext}")  # read from the database: the cache was dropped
    assert key_id not in store.cache
    await listening(store)
    for _ in range(2):  # the first lookup after the listener is back drops what it may have missed
        await check_key(store.get, f"Bearer {plaintext}")
    assert key_id in store.cache and store.listener.connection is not listener


async def test_a_burst_of_requests_with_a_fresh_key_records_its_use_once(cached_gateway, committed_key, monkeypatch):
    """Every request of the burst reads a key never used before; only one of them writes its last use."""
    import gateway.main

    client, _store = cached_gateway
    key_id, plaintext = committed_key
    recorded = []

    async def counting(session, used_key_id):
        recorded.append(used_key_id)
        await record_key_use(session, used_key_id)

    monkeypatch.setattr(gateway.main, "record_key_use", counting)
    answers = await asyncio.gather(*(client.get("/subsidy/programs", headers=bearer(plaintext)) for _ in range(20)))
    assert {answer.status_code for answer in answers} == {200}
    assert recorded == [key_id]
