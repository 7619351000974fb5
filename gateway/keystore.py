"""Where the gateway reads an API key on every request: one primary-key read with the database driver itself.

Keys are read on every request, never cached, so that a revoked key is refused from the very next request,
whichever process revoked it. The read skips the ORM because the ORM is most of its cost: through
SQLAlchemy's async session one check took 1.1 to 1.7 ms of CPU; with the driver, about 10 µs on SQLite and
170 µs on PostgreSQL (bench/key_lookup.py). Writes to keys (last use, revoke, rotate) stay on the ORM.
"""

import sqlite3
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

COLUMNS = ("id", "role", "municipality_code", "provider_id", "secret_hash", "revoked_at", "expires_at",
           "last_used_at")
SELECT_KEY = f"SELECT {', '.join(COLUMNS)} FROM api_key WHERE id = "  # only constants go into this f-string
TIMESTAMPS = ("revoked_at", "expires_at", "last_used_at")
# A read in WAL mode does not wait for writers; this bounds the rare wait (a checkpoint's restart) on the loop.
SQLITE_READ_WAIT_MS = 250
# How long a request waits for a pooled PostgreSQL connection before the gateway answers 503.
POSTGRES_WAIT_SECONDS = 5.0


class KeyStoreUnavailable(ChiikiError):
    def __init__(self, cause: Exception):
        super().__init__(f"API keys cannot be checked now (the database did not answer: {type(cause).__name__}); "
                         "retry shortly", code=ErrorCode.KEY_STORE_UNAVAILABLE,
                         headers={"Retry-After": "5"})


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


class SqliteKeyStore:
    """One read-only connection, queried on the event loop: a lookup takes microseconds and never waits on a
    writer (WAL), which costs less than handing it to a thread."""

    def __init__(self, path: str):
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute(f"PRAGMA busy_timeout={SQLITE_READ_WAIT_MS}")
        self.connection.execute("PRAGMA query_only=ON")

    async def get(self, key_id: str) -> KeyRecord | None:
        try:
            row = self.connection.execute(SELECT_KEY + "?", (key_id,)).fetchone()
        except sqlite3.Error as exc:
            raise KeyStoreUnavailable(exc) from exc
        if row is None:
            return None
        fields = dict(zip(COLUMNS, row, strict=True))
        for name in TIMESTAMPS:  # stored as ISO text, in UTC
            if fields[name] is not None:
                fields[name] = datetime.fromisoformat(fields[name])
        return KeyRecord(**fields)

    async def close(self) -> None:
        self.connection.close()


class PostgresKeyStore:
    """A few connections of psycopg's own pool; the statement is prepared on each after a few uses."""

    def __init__(self, conninfo: str, max_connections: int = 4, wait_seconds: float = POSTGRES_WAIT_SECONDS):
        self.pool = AsyncConnectionPool(conninfo, min_size=1, max_size=max_connections, open=False,
                                        timeout=wait_seconds, kwargs={"autocommit": True, "row_factory": tuple_row})

    async def open(self) -> None:
        await self.pool.open()

    async def get(self, key_id: str) -> KeyRecord | None:
        try:
            async with self.pool.connection() as connection:
                row = await (await connection.execute(SELECT_KEY + "%s", (key_id,))).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            raise KeyStoreUnavailable(exc) from exc
        return None if row is None else KeyRecord(*row)

    async def close(self) -> None:
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
