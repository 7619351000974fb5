"""Alembic, driven from code: the CLI, readiness checks and tests all use these helpers."""

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from common.db import ensure_sqlite_directory, sync_url
from common.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is alembic's interpolation character; a password may contain it.
    config.set_main_option("sqlalchemy.url", sync_url(database_url).render_as_string(False).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


async def current_revision(connection: AsyncConnection) -> str | None:
    try:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return None
    return result.scalar_one_or_none()
