"""Where the gateway reads an API key: a cache in front of one primary-key read with the database driver itself.

A revoked or rotated key must be refused from the very next request, whichever process changed it, so a cached
key is served only while the database says nothing changed: on SQLite `PRAGMA data_version` (a counter that moves
whenever another connection commits, a few microseconds to read) is checked on every lookup; on PostgreSQL a
trigger (migration 0012) sends a NOTIFY for every change to a key row, and every lookup first reads, without
waiting, what the listening connection has received. A lost listener turns the cache off until it is back;
an entry is also read again after CACHE_MAX_AGE_SECONDS whatever happens.
The read skips the ORM because the ORM is most of its cost: through SQLAlchemy's async session one check took
1.1 to 1.7 ms of CPU; with the driver, about 10 µs on SQLite and 170 µs on PostgreSQL (bench/key_lookup.py).
Writes to keys (last use, revoke, rotate) stay on the ORM.
"""

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.engine import make_url

from common.auth import KeyRecord
from common.db import Database, ensure_sqlite_directory, is_sqlite
from common.error_codes import ErrorCode
from common.errors import ChiikiError
from common.models import ApiKey

log = logging.getLogger("chiiki.gateway.keys")
COLUMNS = ("id", "role", "municipality_code", "provider_id", "secret_hash", "revoked_at", "expires_at", "last_used_at")
SELECT_KEY = f"SELECT {', '.join(COLUMNS)} FROM api_key WHERE id = "  # only constants go into this f-string
TIMESTAMPS = ("revoked_at", "expires_at", "last_used_at")
# A read in WAL mode does not wait for writers; this bounds the rare wait (a checkpoint's restart) on the loop.
SQLITE_READ_WAIT_MS = 250
# How long a request waits for a pooled PostgreSQL connection before the gateway answers 503.
POSTGRES_WAIT_SECONDS = 5.0
# The channel migration 0012's trigger notifies, with the key's id as payload.
KEY_CHANNEL = "chiiki_api_key"
CACHE_MAX_AGE_SECONDS = 60.0
CACHE_MAX_ENTRIES = 10_000
LISTENER_RETRY_SECONDS = 1.0


class KeyStoreUnavailable(ChiikiError):
    def __init__(self, cause: Exception):
        super().__init__(
            f"API keys cannot be checked now (the database did not answer: {type(cause).__name__}); retry shortly",
            code=ErrorCode.KEY_STORE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )


class KeyStore(Protocol):
    async def get(self, key_id: str) -> KeyRecord | ApiKey | None: ...

    async def close(self) -> None: ...


class SessionKeyStore:
    """Through the ORM's sessions: used when the gateway is handed a Database (the tests' rolled-back one)."""

    def __init__(self, db: Database):
        self.db = db

    async def get(self, key_id: str) -> ApiKey | None:
        async with self.db.reader() as session:
            return await session.get(ApiKey, key_id)

    async def close(self) -> None:
        return None


class KeyCache:
    """Key records by id, least recently used forgotten first, each for at most `max_age` seconds."""

    def __init__(self, max_age: float = CACHE_MAX_AGE_SECONDS, max_entries: int = CACHE_MAX_ENTRIES):
        self.max_age, self.max_entries = max_age, max_entries
        self._entries: OrderedDict[str, tuple[KeyRecord, float]] = OrderedDict()

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._entries

    def get(self, key_id: str) -> KeyRecord | None:
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if time.monotonic() - entry[1] > self.max_age:
            del self._entries[key_id]
            return None
        self._entries.move_to_end(key_id)
        return entry[0]

    def put(self, record: KeyRecord) -> None:
        self._entries[record.id] = (record, time.monotonic())
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, key_id: str) -> None:
        self._entries.pop(key_id, None)

    def clear(self) -> None:
        self._entries.clear()


class SqliteKeyStore:
    """One read-only connection, queried on the event loop: a lookup takes microseconds and never waits on a
    writer (WAL), which costs less than handing it to a thread."""

    def __init__(self, path: str):
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute(f"PRAGMA busy_timeout={SQLITE_READ_WAIT_MS}")
        self.connection.execute("PRAGMA query_only=ON")
        self.cache = KeyCache()
        self._version: int | None = None

    async def get(self, key_id: str) -> KeyRecord | None:
        try:
            # Read before the row: a commit after this moves the version, and the next lookup starts afresh.
            version = self.connection.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self.cache.clear()
                self._version = version
            elif (cached := self.cache.get(key_id)) is not None:
                return cached
            row = self.connection.execute(SELECT_KEY + "?", (key_id,)).fetchone()
        except sqlite3.Error as exc:
            raise KeyStoreUnavailable(exc) from exc
        if row is None:
            return None
        fields = dict(zip(COLUMNS, row, strict=True))
        for name in TIMESTAMPS:  # stored as ISO text, in UTC
            if fields[name] is not None:
                fields[name] = datetime.fromisoformat(fields[name])
        record = KeyRecord(**fields)
        self.cache.put(record)
        return record

    async def close(self) -> None:
        self.connection.close()


class KeyListener:
    """A connection that LISTENs on KEY_CHANNEL, kept open by a task that reads what it receives and connects
    again when it is lost. `changed()` hands over, without waiting, the key ids notified since the last call
    (what has reached the socket included), or None while there is no connection and once after one was lost."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self.connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self.pending: list[str] = []  # ids the task has read, not yet handed over
        self._lost = False  # a connection was lost since changed() last said so
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                await connection.execute(f"LISTEN {KEY_CHANNEL}")
            except psycopg.Error as exc:
                log.warning("cannot listen for key changes (%s); keys are read uncached", type(exc).__name__)
                await asyncio.sleep(LISTENER_RETRY_SECONDS)
                continue
            self.connection = connection
            try:
                async for notice in connection.notifies():
                    self.pending.append(notice.payload)
            except psycopg.Error as exc:
                log.warning(
                    "lost the connection that listens for key changes (%s); keys are read uncached until it is back",
                    type(exc).__name__,
                )
            finally:
                self.connection, self._lost = None, True
                await connection.close()

    def changed(self) -> list[str] | None:
        if self._lost or self.connection is None:
            self._lost = self.connection is None
            self.pending.clear()
            return None
        pgconn = self.connection.pgconn
        try:
            pgconn.consume_input()  # the connection is non-blocking: this reads only what has arrived
        except psycopg.Error:
            return None  # the task hears of it too, and connects again
        while (notice := pgconn.notifies()) is not None:
            self.pending.append(notice.extra.decode())
        changed, self.pending = self.pending, []
        return changed

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class PostgresKeyStore:
    """A few connections of psycopg's own pool; the statement is prepared on each after a few uses."""

    def __init__(self, conninfo: str, max_connections: int = 4, wait_seconds: float = POSTGRES_WAIT_SECONDS):
        self.pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_connections,
            open=False,
            timeout=wait_seconds,
            kwargs={"autocommit": True, "row_factory": tuple_row},
        )
        self.listener = KeyListener(conninfo)
        self.cache = KeyCache()
        self._generation = 0  # moves with every change heard of: a read that overlapped one is not cached

    async def open(self) -> None:
        await self.pool.open()
        self.listener.start()

    def _listening(self) -> bool:
        changed = self.listener.changed()
        if changed is None:
            self.cache.clear()
            return False
        if changed:
            self._generation += 1
            for key_id in changed:
                self.cache.drop(key_id)
        return True

    async def get(self, key_id: str) -> KeyRecord | None:
        listening = self._listening()
        if listening and (cached := self.cache.get(key_id)) is not None:
            return cached
        generation = self._generation
        try:
            async with self.pool.connection() as connection:
                row = await (await connection.execute(SELECT_KEY + "%s", (key_id,))).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            raise KeyStoreUnavailable(exc) from exc
        if row is None:
            return None
        record = KeyRecord(*row)
        if listening and self._listening() and generation == self._generation:
            self.cache.put(record)
        return record

    async def close(self) -> None:
        await self.listener.close()
        await self.pool.close()


async def open_key_store(database_url: str) -> KeyStore:
    """The direct store for this database."""
    url = make_url(database_url)
    if is_sqlite(database_url):
        if not url.database or url.database == ":memory:":
            raise ValueError("the gateway needs a database file or server; an in-memory SQLite has no keys")
        ensure_sqlite_directory(database_url)
        return SqliteKeyStore(url.database)
    store = PostgresKeyStore(url.set(drivername="postgresql").render_as_string(hide_password=False))
    await store.open()
    return store
