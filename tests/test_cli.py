"""The `chiiki` command on a throwaway SQLite file: migrate, load, create keys."""

import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session
from typer.testing import CliRunner

from common.cli import app
from common.models import ApiKey, Municipality
from common.settings import get_settings


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CHIIKI_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_upgrade_load_and_create_keys(cli_env):
    assert run("db", "upgrade").exit_code == 0
    first = run("data", "load")
    assert first.exit_code == 0 and "municipality: 1794 inserted" in first.output
    assert "municipality: 0 inserted, 0 updated, 1794 unchanged" in run("data", "load").output

    created = run("keys", "create", "--role", "municipality", "--municipality", "012092", "--label", "yubari")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("chk_")

    engine = create_engine(cli_env)
    with Session(engine) as session:
        stored = session.exec(select(ApiKey)).scalars().one()
        assert (stored.role, stored.municipality_code, stored.label) == ("municipality", "012092", "yubari")
        assert key.split("_", 2)[2] not in stored.secret_hash
        assert session.exec(select(func.count()).select_from(Municipality)).scalar() == 1794
    engine.dispose()


def test_replace_revokes_earlier_keys_with_the_label(cli_env):
    run("db", "upgrade")
    run("keys", "create", "--role", "ops", "--label", "dev")
    second = run("keys", "create", "--role", "ops", "--label", "dev", "--replace")
    assert "revoked 1 earlier 'dev' key" in second.output
    engine = create_engine(cli_env)
    with Session(engine) as session:
        keys = session.exec(select(ApiKey).order_by(ApiKey.created_at)).scalars().all()
        assert [k.revoked_at is None for k in keys] == [False, True]
    engine.dispose()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--role", "root"], "unknown role"),
        (["--role", "municipality"], "names a municipality code"),
        (["--role", "provider", "--provider", "nobody"], "no provider"),
    ],
)
def test_bad_key_requests_fail_with_a_message(cli_env, args, message):
    run("db", "upgrade")
    result = run("keys", "create", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_service_name_is_refused(cli_env):
    result = run("service", "billing")
    assert result.exit_code == 2 and "unknown service" in result.output
