"""Key lifecycle: list, revoke, rotate (with a grace period), last used — through the gateway and the CLI."""

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from common.auth import list_api_keys, revoke_api_key, rotate_api_key
from common.cli import app as cli
from common.errors import NotFound, Unprocessable
from common.models import ApiKey
from common.settings import get_settings
from common.timeutil import utcnow
from tests.harness import bearer, make_key

YUBARI = "/subsidy/municipalities/012092"


def key_id(plaintext: str) -> str:
    return plaintext.split("_")[1]


async def test_revoked_key_is_refused_at_the_next_request(client, db):
    key = await make_key(db, "app")
    assert (await client.get(YUBARI, headers=bearer(key))).status_code == 200
    async with db.sessionmaker() as session:
        await revoke_api_key(session, key_id(key))
        await session.commit()
    response = await client.get(YUBARI, headers=bearer(key))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


async def test_rotation_without_grace_refuses_the_old_key_and_keeps_role_and_tenant(client, db):
    old = await make_key(db, "municipality", municipality_code="012092")
    async with db.sessionmaker() as session:
        new_key, new = await rotate_api_key(session, key_id(old))
        await session.commit()
    assert (new_key.role, new_key.municipality_code) == ("municipality", "012092")
    assert (await client.get(YUBARI, headers=bearer(old))).status_code == 401
    assert (await client.get(YUBARI, headers=bearer(new))).status_code == 200
    async with db.sessionmaker() as session:
        assert (await session.get(ApiKey, key_id(old))).replaced_by == new_key.id


async def test_rotation_with_grace_keeps_the_old_key_until_it_expires(client, db):
    old = await make_key(db, "app")
    async with db.sessionmaker() as session:
        _, new = await rotate_api_key(session, key_id(old), grace_seconds=600)
        await session.commit()
    assert (await client.get(YUBARI, headers=bearer(old))).status_code == 200
    assert (await client.get(YUBARI, headers=bearer(new))).status_code == 200
    async with db.sessionmaker() as session:
        (await session.get(ApiKey, key_id(old))).expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    response = await client.get(YUBARI, headers=bearer(old))
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


async def test_revoking_twice_or_an_unknown_key_is_a_clear_error(session):
    with pytest.raises(NotFound):
        await revoke_api_key(session, "0000000000000000")
    key = await make_key_in(session)
    await revoke_api_key(session, key.id)
    with pytest.raises(Unprocessable) as error:
        await revoke_api_key(session, key.id)
    assert error.value.field == "key_id"
    with pytest.raises(Unprocessable):
        await rotate_api_key(session, key.id)


async def make_key_in(session):
    from common.auth import create_api_key

    key, _ = await create_api_key(session, "ops", label="t")
    return key


async def test_use_is_recorded_as_last_used(client, db):
    key = await make_key(db, "app")
    await client.get(YUBARI, headers=bearer(key))
    async with db.sessionmaker() as session:
        assert (await session.get(ApiKey, key_id(key))).last_used_at is not None


async def test_listing_hides_revoked_keys_unless_asked(session):
    active, revoked = await make_key_in(session), await make_key_in(session)
    await revoke_api_key(session, revoked.id)
    listed = {k.id for k in await list_api_keys(session)}
    assert active.id in listed and revoked.id not in listed
    assert revoked.id in {k.id for k in await list_api_keys(session, include_revoked=True)}


# --- the command line, on a throwaway SQLite file ---------------------------------------------------


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    monkeypatch.setenv("CHIIKI_DATABASE_URL", f"sqlite:///{tmp_path / 'keys.db'}")
    get_settings.cache_clear()
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    yield
    get_settings.cache_clear()


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_keys_list_revoke_rotate_on_the_command_line(cli_db):
    first = run("keys", "create", "--role", "app", "--label", "resident app").stdout.strip()
    second = run("keys", "create", "--role", "ops", "--label", "ops desk").stdout.strip()

    listing = run("keys", "list")
    assert listing.exit_code == 0
    assert key_id(first) in listing.stdout and "resident app" in listing.stdout
    assert first.split("_", 2)[2] not in listing.stdout  # never a secret

    rotated = run("keys", "rotate", key_id(first), "--grace-minutes", "5")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("chk_") and key_id(new) != key_id(first)
    assert "expires" in run("keys", "list").stdout

    assert run("keys", "revoke", key_id(second)).exit_code == 0
    assert key_id(second) not in run("keys", "list").stdout
    assert key_id(second) in run("keys", "list", "--all").stdout

    again = run("keys", "revoke", key_id(second))
    assert again.exit_code == 2 and "already revoked" in again.output
    assert run("keys", "revoke", "nosuchkey").exit_code == 2
