"""The migrations are the schema: they must build every database and agree with the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import common.models
from common.db import sync_url
from common.migrations import alembic_config, head_revision, upgrade


def _diff(database_url: str, metadata: sa.MetaData) -> list:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url):
    assert _diff(database_url, common.models.metadata) == []


def test_the_agreement_check_notices_a_model_change(database_url):
    changed = sa.MetaData(naming_convention=common.models.metadata.naming_convention)
    for table in common.models.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["municipality"].append_column(sa.Column("mayor", sa.String(40)))
    diff = _diff(database_url, changed)
    assert [(op[0], op[3].name) for op in diff] == [("add_column", "mayor")]


def test_database_is_at_head(database_url):
    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision()
    engine.dispose()


def test_upgrade_and_downgrade_from_scratch(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = create_engine(url)
    assert {"municipality", "api_key", "provider", "field_of_work"} <= set(inspect(engine).get_table_names())
    command.downgrade(alembic_config(url), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
