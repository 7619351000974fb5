import stat

import pytest
from pydantic import ValidationError

from common.db import async_url, sync_url
from common.settings import Settings


def test_defaults_are_the_embedded_sqlite_file(monkeypatch):
    monkeypatch.delenv("CHIIKI_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///var/chiiki.db"
    assert settings.upstream_timeout_seconds < 30


def test_environment_variables_use_the_chiiki_prefix(monkeypatch):
    monkeypatch.setenv("CHIIKI_GATEWAY_PORT", "9100")
    assert Settings(_env_file=None).gateway_port == 9100


def test_production_refuses_to_start_without_a_strong_internal_secret():
    with pytest.raises(ValidationError, match="CHIIKI_INTERNAL_SECRET"):
        Settings(_env_file=None, env="production")
    with pytest.raises(ValidationError, match="CHIIKI_INTERNAL_SECRET"):
        Settings(_env_file=None, env="production", internal_secret="short")
    assert (
        Settings(_env_file=None, env="production", internal_secret="x" * 40, myki_secret="m" * 40).env == "production"
    )


def test_production_refuses_to_start_without_a_strong_myki_secret():
    with pytest.raises(ValidationError, match="CHIIKI_MYKI_SECRET"):
        Settings(_env_file=None, env="production", internal_secret="x" * 40)
    with pytest.raises(ValidationError, match="CHIIKI_MYKI_SECRET"):
        Settings(_env_file=None, env="production", internal_secret="x" * 40, myki_secret="short")


def test_insecure_webhook_urls_are_allowed_by_default_only_outside_production():
    assert Settings(_env_file=None).insecure_webhooks_allowed()
    strong = {"internal_secret": "x" * 40, "myki_secret": "m" * 40}
    assert not Settings(_env_file=None, env="production", **strong).insecure_webhooks_allowed()
    with pytest.raises(ValidationError, match="ALLOW_INSECURE_WEBHOOKS"):
        Settings(_env_file=None, env="production", allow_insecure_webhooks=True, **strong)


def test_production_refuses_to_accept_requests_outside_the_gateway():
    with pytest.raises(ValidationError, match="REQUIRE_GATEWAY"):
        Settings(
            _env_file=None, env="production", internal_secret="x" * 40, myki_secret="m" * 40, require_gateway=False
        )


def test_development_secret_is_generated_once_at_run_time_and_private(tmp_path):
    settings = Settings(_env_file=None, var_dir=tmp_path / "var")
    first = settings.internal_secret_bytes()
    assert len(first) >= 32
    assert settings.internal_secret_bytes() == first
    assert stat.S_IMODE((tmp_path / "var" / "internal-secret").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "given,async_driver,sync_driver",
    [
        ("postgresql://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite", "sqlite"),
        ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite", "sqlite"),
    ],
)
def test_database_urls_get_the_drivers_the_suite_uses(given, async_driver, sync_driver):
    assert async_url(given).drivername == async_driver
    assert sync_url(given).drivername == sync_driver


def test_unsupported_database_is_refused_with_a_message():
    with pytest.raises(ValueError, match="unsupported database"):
        async_url("mysql://u@h/db")


def test_an_empty_internal_secret_counts_as_unset(tmp_path):
    settings = Settings(_env_file=None, internal_secret="", var_dir=tmp_path)
    assert settings.internal_secret is None
    assert len(settings.internal_secret_bytes()) >= 32


@pytest.mark.parametrize(
    "variable,value",
    [
        ("CHIIKI_MYKI_SECRET", "myki-secret-part-1234"),
        ("CHIIKI_INTERNAL_SECRET", "internal-secret-part-5678"),
    ],
)
def test_a_refused_production_setting_never_echoes_a_secret(monkeypatch, variable, value):
    monkeypatch.setenv("CHIIKI_ENV", "production")
    monkeypatch.setenv("CHIIKI_DATABASE_URL", "postgresql://chiiki:db-password-9@127.0.0.1/chiiki")
    monkeypatch.setenv("CHIIKI_INTERNAL_SECRET", "i" * 40)
    monkeypatch.setenv("CHIIKI_MYKI_SECRET", "m" * 40)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    # What a failed start prints (a traceback shows str); errors() hands out the input only when asked.
    shown = f"{refused.value}\n{refused.value!r}\n{refused.value.errors(include_input=False)}"
    assert variable in shown
    for secret in (value, value[:12], "db-password-9", "i" * 40, "m" * 40):
        assert secret not in shown
