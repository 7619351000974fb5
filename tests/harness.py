"""What test modules share besides fixtures: the backends under test, the internal secret of the in-process
suite, fresh PostgreSQL databases, and API keys. Fixtures are in tests/conftest.py."""

import os
import secrets
import socket
import uuid

import psycopg
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url

from common.auth import create_api_key
from common.db import Database

POSTGRES_URL = os.environ.get("CHIIKI_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
TEST_SECRET = secrets.token_urlsafe(32)
SERVICE_NAMES = ("subsidy", "matching", "mynapoint")


def _server_url() -> str:
    if POSTGRES_URL is None:
        raise RuntimeError("CHIIKI_TEST_DATABASE_URL names no PostgreSQL server")
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)


def create_postgres_database() -> str:
    """A new, empty database on the test server; its URL."""
    name = f"chiiki_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_server_url(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(_server_url()).set(database=name).render_as_string(False)


def drop_postgres_database(url: str) -> None:
    with psycopg.connect(_server_url(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def make_key(db: Database, role: str, **binding: str) -> str:
    """A committed API key of `role` (bound to `municipality_code=` or `provider_id=`); its plaintext."""
    async with db.sessionmaker() as session:
        _, plaintext = await create_api_key(session, role, **binding)
        await session.commit()
    return plaintext


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def closed_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def upstream_errors(upstream: str, kind: str) -> float:
    """The gateway's count of failed calls to `upstream` of this kind, in this process so far."""
    labels = {"upstream": upstream, "kind": kind}
    return REGISTRY.get_sample_value("chiiki_gateway_upstream_errors_total", labels) or 0.0
