"""The migrations are the schema: they must build every database and agree with the models."""

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

import common.models
from common.db import sync_url
from common.migrations import alembic_config, head_revision, upgrade
from tests.harness import BACKENDS, create_postgres_database, drop_postgres_database


def _diff(database_url: str, metadata: sa.MetaData) -> list:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
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
    assert [(kind, column.name) for kind, _schema, _table, column in diff] == [("add_column", "mayor")]


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


@pytest.fixture(params=BACKENDS, ids=[f"on-{backend}" for backend in BACKENDS])
def empty_database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url = create_postgres_database()
    request.addfinalizer(lambda: drop_postgres_database(url))
    return url


def test_outbox_events_written_before_0007_are_given_their_grant(empty_database_url):
    """A voided reservation finds its grant.created by the grant_id column, also for events already queued."""
    upgrade(empty_database_url, "0006")
    engine = create_engine(sync_url(empty_database_url))
    now = datetime.now(UTC)
    events = {
        "msg_created": ("grant.created", {"grant_id": "gr_1", "points": 5000}),
        "msg_revoked": ("grant.revoked", {"grant_id": "gr_2", "program_id": "prog_1", "points": 5000}),
        "msg_other": ("program.noticed", {"program_id": "prog_1"}),
    }
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO provider (id, name, webhook_url, created_at) "
                "VALUES ('prov_1', 'テストペイ', 'https://pay.example/hooks', :now)"
            ),
            {"now": now},
        )
        for event_id, (event_type, data) in events.items():
            body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data}, separators=(",", ":"))
            connection.execute(
                text(
                    "INSERT INTO outbox_event (id, provider_id, event_type, body, status, attempts, next_attempt_at, "
                    "created_at) VALUES (:id, 'prov_1', :event_type, :body, 'pending', 0, :now, :now)"
                ),
                {"id": event_id, "event_type": event_type, "body": body, "now": now},
            )
    upgrade(empty_database_url)
    with engine.connect() as connection:
        named = dict(connection.execute(text("SELECT id, grant_id FROM outbox_event")).all())
    engine.dispose()
    assert named == {"msg_created": "gr_1", "msg_revoked": "gr_2", "msg_other": None}
