"""Alembic environment on the shared metadata of `common.models`.

The database comes from `sqlalchemy.url` when the caller set it (chiiki db upgrade, tests),
otherwise from CHIIKI_DATABASE_URL, so `alembic upgrade head` and `chiiki db upgrade` agree.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import common.models
from common.db import ensure_sqlite_directory, sync_url
from common.settings import get_settings

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)

target_metadata = common.models.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or sync_url(get_settings().database_url).render_as_string(False)


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=True,  # SQLite alters tables by copying them
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    ensure_sqlite_directory(_url())
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
