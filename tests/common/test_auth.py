import pytest
from sqlalchemy.exc import IntegrityError

from common.auth import (
    ANONYMOUS_PRINCIPAL,
    Principal,
    authenticate,
    create_api_key,
    hash_secret,
    parse_key,
    sign_principal,
    use_is_stale,
    verify_principal,
)
from common.errors import NotFound, Unauthorized, Unprocessable
from common.models import ApiKey
from common.timeutil import utcnow

SECRET = b"s" * 32


def test_signed_principal_round_trips():
    principal = Principal(role="municipality", key_id="abc", municipality_code="012092")
    headers = sign_principal(principal, SECRET, now=1_000_000)
    assert (
        verify_principal(headers["x-chiiki-principal"], headers["x-chiiki-signature"], SECRET, now=1_000_010)
        == principal
    )


def test_tampered_or_foreign_principal_is_refused():
    headers = sign_principal(Principal(role="app"), SECRET, now=1_000_000)
    forged = headers["x-chiiki-principal"].replace("role=app", "role=ops")
    assert verify_principal(forged, headers["x-chiiki-signature"], SECRET, now=1_000_000) is None
    assert (
        verify_principal(headers["x-chiiki-principal"], headers["x-chiiki-signature"], b"other" * 8, now=1_000_000)
        is None
    )
    assert verify_principal("role=ops", None, SECRET) is None


def test_stale_signature_is_refused():
    headers = sign_principal(Principal(role="ops"), SECRET, now=1_000_000)
    assert (
        verify_principal(headers["x-chiiki-principal"], headers["x-chiiki-signature"], SECRET, now=1_000_000 + 301)
        is None
    )


def test_a_signature_checked_before_is_still_refused_once_stale_or_under_another_secret():
    headers = sign_principal(Principal(role="app", key_id="k1"), SECRET, now=2_000_000)
    payload, signature = headers["x-chiiki-principal"], headers["x-chiiki-signature"]
    for now in (2_000_000, 2_000_100, 2_000_300):  # checked once, then answered from what was kept
        assert verify_principal(payload, signature, SECRET, now=now) == Principal(role="app", key_id="k1")
    assert verify_principal(payload, signature, SECRET, now=2_000_301) is None
    assert verify_principal(payload, signature, b"other" * 8, now=2_000_000) is None
    assert verify_principal(payload.replace("role=app", "role=ops"), signature, SECRET, now=2_000_000) is None


@pytest.mark.parametrize("key", ["", "chk_", "chk_abc", "xyz_abc_def", "chk__secret"])
def test_malformed_keys_do_not_parse(key):
    assert parse_key(key) is None


async def test_created_key_authenticates_with_its_role_and_tenant(session):
    api_key, plaintext = await create_api_key(session, "municipality", municipality_code="012092")
    assert api_key.secret_hash == hash_secret(plaintext.split("_", 2)[2])
    assert plaintext not in {api_key.secret_hash, api_key.id}
    principal = await authenticate(session, f"Bearer {plaintext}")
    assert (principal.role, principal.municipality_code, principal.key_id) == ("municipality", "012092", api_key.id)


def test_key_use_is_recorded_at_most_once_a_minute():
    from datetime import timedelta

    now = utcnow()
    key = ApiKey(id="k", role="app", secret_hash="0" * 64)
    assert use_is_stale(key, now)
    key.last_used_at = now - timedelta(seconds=59)
    assert not use_is_stale(key, now)
    key.last_used_at = (now - timedelta(seconds=61)).replace(tzinfo=None)  # as SQLite returns it
    assert use_is_stale(key, now)


async def test_no_header_is_anonymous(session):
    assert await authenticate(session, None) == ANONYMOUS_PRINCIPAL


@pytest.mark.parametrize("header", ["Basic abc", "Bearer nope", "Bearer chk_0000000000000000_wrong"])
async def test_bad_keys_are_unauthorized(session, header):
    with pytest.raises(Unauthorized):
        await authenticate(session, header)


async def test_right_id_with_wrong_secret_is_unauthorized(session):
    _, plaintext = await create_api_key(session, "app")
    key_id = plaintext.split("_")[1]
    with pytest.raises(Unauthorized, match="unknown"):
        await authenticate(session, f"Bearer chk_{key_id}_{'x' * 43}")


async def test_revoked_key_is_refused_at_once(session):
    api_key, plaintext = await create_api_key(session, "ops")
    api_key.revoked_at = utcnow()
    await session.flush()
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate(session, f"Bearer {plaintext}")


@pytest.mark.parametrize(
    "role,binding,error",
    [
        ("root", {}, Unprocessable),
        ("municipality", {}, Unprocessable),
        ("app", {"municipality_code": "012092"}, Unprocessable),
        ("provider", {}, Unprocessable),
        ("municipality", {"municipality_code": "999990"}, NotFound),
        ("provider", {"provider_id": "prov_missing"}, NotFound),
    ],
)
async def test_key_bindings_are_validated(session, role, binding, error):
    with pytest.raises(error):
        await create_api_key(session, role, **binding)


async def test_database_refuses_a_key_whose_binding_does_not_match_its_role(session):
    session.add(ApiKey(id="badbinding000000", role="app", municipality_code="012092", secret_hash="0" * 64))
    with pytest.raises(IntegrityError):
        await session.flush()
