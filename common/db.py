"""Engine, sessions and the one place where a request's transaction commits or rolls back (the early commits of
common/driver_sql.py's DriverConnection.commit_with aside: docs/ledger.md)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from common.errors import NotFound

if TYPE_CHECKING:
    from common.settings import Settings

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
SQLITE_IMMEDIATE = "chiiki_sqlite_immediate"
Model = TypeVar("Model", bound=SQLModel)
Result = TypeVar("Result")


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {url.drivername!r}: use sqlite or postgresql")
    return backend


def async_url(database_url: str) -> URL:
    """`postgresql://…` or `sqlite:///…` as given by users, with the async driver the suite uses."""
    url = make_url(database_url)
    return url.set(drivername=ASYNC_DRIVERS[_backend(url)])


def sync_url(database_url: str) -> URL:
    """The same database with a blocking driver, for alembic and one-shot commands."""
    url = make_url(database_url)
    return url.set(drivername=SYNC_DRIVERS[_backend(url)])


def is_sqlite(database_url: str) -> bool:
    return _backend(make_url(database_url)) == "sqlite"


def ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(database_url)
    if _backend(url) == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # The driver's own implicit transactions break SAVEPOINT; SQLAlchemy emits BEGIN itself instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer across processes
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Sessions begin IMMEDIATE (see Database): their transaction takes the write lock at BEGIN. A deferred
    # transaction that reads and then writes cannot wait for the lock (SQLite answers SQLITE_BUSY at once,
    # busy_timeout notwithstanding, when another writer committed since its snapshot), so concurrent
    # read-then-write requests would fail instead of queueing. Plain connections (probes) stay deferred.
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    ensure_sqlite_directory(database_url)
    url = async_url(database_url)
    # No pool_pre_ping: it costs a round trip at every checkout. After a database restart the first request on
    # each stale connection fails with a 503 and Retry-After (common/errors.py), and the pool starts afresh.
    if url.get_backend_name() == "postgresql":
        # No automatic prepared statements: psycopg's rollback of a transaction that used them sends DEALLOCATE
        # ALL, which would also drop the ones common/driver_sql.py prepares for the hot paths.
        kwargs["connect_args"] = {"prepare_threshold": None, **kwargs.get("connect_args", {})}
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


class Database:
    """An engine and the session factory bound to it; one per process, kept on `app.state.db`."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        # On SQLite a session is a writer-to-be: BEGIN IMMEDIATE, queueing on busy_timeout (ignored elsewhere).
        writer = engine.execution_options(**{SQLITE_IMMEDIATE: True})
        self.sessionmaker = async_sessionmaker(writer, class_=AsyncSession, expire_on_commit=False)
        # For work that only reads (GET requests, key lookups): a plain BEGIN, so that on SQLite readers run
        # side by side instead of queueing behind each other for the write lock.
        self.reader = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @classmethod
    def from_url(cls, database_url: str, **engine_options: Any) -> "Database":
        return cls(create_engine(database_url, **engine_options))

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Database":
        return cls.from_url(
            settings.database_url, pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow
        )

    async def dispose(self) -> None:
        await self.engine.dispose()


async def run_in_session(database_url: str, work: Callable[[AsyncSession], Awaitable[Result]]) -> Result:
    """For commands: open the database, run `await work(session)` in one transaction, commit, close."""
    db = Database.from_url(database_url)
    try:
        async with db.sessionmaker() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await db.dispose()


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _session(request, read_only=request.method in READ_ONLY_METHODS) as session:
        yield session


@asynccontextmanager
async def _session(request: Request, *, read_only: bool) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with (db.reader if read_only else db.sessionmaker)() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is sent, so a failed commit is never reported as success.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def get_or_404(
    session: AsyncSession, model: type[Model], key: str, *, field: str, noun: str | None = None
) -> Model:
    """The row with this primary key, or a 404 that names the field the key came from."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(f"no {noun or model.__name__.lower()} {key}", field=field)
    return row
