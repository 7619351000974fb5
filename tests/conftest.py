"""Test harness: every database test runs on SQLite, and again on PostgreSQL when
CHIIKI_TEST_DATABASE_URL names a server.

Each run builds fresh databases with `alembic upgrade head` (the migrations, not create_all) and loads
the reference data; each test then runs inside a transaction that is rolled back at its end.
"""

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp

from common.db import Database, create_engine
from common.migrations import upgrade
from common.reference_data import load_reference_data
from common.settings import Settings
from gateway.local_services import LocalServices
from tests.harness import (
    BACKENDS,
    POSTGRES_URL,
    SERVICE_NAMES,
    TEST_SECRET,
    bearer,  # noqa: F401 -- tests/mynapoint and tests/subsidy still import it from here
    create_postgres_database,
    drop_postgres_database,
    make_key,
)

# A test marked with a server runs only when that server is named; .ci/run names both, and fails on any skip.
SERVERS = {"needs_postgresql": "CHIIKI_TEST_DATABASE_URL", "needs_redis": "CHIIKI_TEST_REDIS_URL"}


def _left_out(item) -> bool:
    """A test of what only PostgreSQL has, on SQLite; or one whose server was not named."""
    if item.get_closest_marker("postgresql_only") and "on-sqlite" in item.name:
        return True
    return any(item.get_closest_marker(marker) and not os.environ.get(var) for marker, var in SERVERS.items())


def pytest_collection_modifyitems(config, items) -> None:
    """Tests that cannot run here are not collected (pytest counts them as deselected), rather than skipped."""
    left_out = [item for item in items if _left_out(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not _left_out(item)]


def pytest_report_header(config) -> list[str]:
    where = f"and PostgreSQL (fresh database on {make_url(POSTGRES_URL).host})" if POSTGRES_URL else "only"
    unnamed = [var for var in SERVERS.values() if not os.environ.get(var)]
    return [f"chiiki databases: SQLite {where}"] + (
        [f"not collected: the tests that need a server; set {' and '.join(unnamed)} to run them"] if unnamed else []
    )


# --- fresh databases, one per backend per run ---------------------------------------------------------


async def _load_reference(url: str) -> None:
    db = Database.from_url(url)
    async with db.sessionmaker() as session:
        await load_reference_data(session)
        await session.commit()
    await db.dispose()


@pytest.fixture(scope="session", params=BACKENDS, ids=[f"on-{backend}" for backend in BACKENDS])
def database_url(request, tmp_path_factory) -> str:
    """A migrated database with reference data, built once per backend for this run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'chiiki.db'}"
    else:
        url = create_postgres_database()
        request.addfinalizer(lambda: drop_postgres_database(url))
    upgrade(url)
    asyncio.run(_load_reference(url))
    return url


@pytest.fixture(scope="session")
async def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine) -> AsyncIterator[Database]:
    """A Database whose sessions all live inside one transaction, rolled back after the test.

    Code under test commits as usual; with join_transaction_mode="create_savepoint" a commit only
    releases a savepoint, so nothing outlives the test.
    """
    async with engine.connect() as connection:
        transaction = await connection.begin()
        database = Database(engine)
        database.sessionmaker = async_sessionmaker(
            bind=connection, class_=AsyncSession, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        database.reader = database.sessionmaker
        yield database
        await transaction.rollback()


@pytest.fixture
async def session(db) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as session:
        yield session


# --- the suite in-process: gateway → services, all on the test database ---------------------------


@pytest.fixture(scope="session")
async def local_services() -> AsyncIterator[LocalServices]:
    """A server on 127.0.0.1 for each service, in this run's event loop; each test puts in the apps it serves."""
    async with LocalServices(SERVICE_NAMES) as served:
        yield served


@pytest.fixture
def settings(database_url, tmp_path, local_services) -> Settings:
    """The test settings; a gateway built with them calls the local services' servers."""
    base = Settings(
        env="test",
        database_url=database_url,
        internal_secret=TEST_SECRET,
        var_dir=tmp_path,
        log_json=False,
        upstream_timeout_seconds=5.0,
    )
    return local_services.settings(base)


@pytest.fixture
def service_apps(settings, db) -> dict:
    from services.matching.main import create_app as matching_app
    from services.mynapoint.main import create_app as mynapoint_app
    from services.subsidy.main import create_app as subsidy_app

    return {
        "subsidy": subsidy_app(settings=settings, db=db),
        "matching": matching_app(settings=settings, db=db),
        "mynapoint": mynapoint_app(settings=settings, db=db),
    }


@pytest.fixture
async def upstream_apps(service_apps, local_services) -> AsyncIterator[dict[str, ASGIApp]]:
    """What the gateway's calls to each service reach over 127.0.0.1 in this test: the in-process service apps,
    unless the test puts a stand-in in their place."""
    local_services.apps.update(service_apps)
    yield local_services.apps
    await local_services.settled()  # nothing the apps still run outlives the test's database
    local_services.apps.clear()


@pytest.fixture
async def gateway_app(settings, db, upstream_apps):
    from gateway.main import create_app

    app = create_app(settings=settings, db=db)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def client(gateway_app) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to the gateway, which reaches the services in-process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway.test"
    ) as client:
        yield client


@pytest.fixture
async def ops_key(db) -> str:
    return await make_key(db, "ops")


@pytest.fixture
async def app_key(db) -> str:
    return await make_key(db, "app")
