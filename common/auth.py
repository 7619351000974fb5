"""API keys, the caller's identity (principal), and how the gateway hands that identity to services.

The gateway checks the key and forwards the principal in `X-Chiiki-Principal`, signed with the internal
secret in `X-Chiiki-Signature`. It strips both headers from what callers send, and services accept the
principal only with a valid signature, so a caller cannot forge an identity by sending the header.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection

from common.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from common.models import ApiKey, ApiKeyRole, Municipality, Provider
from common.timeutil import utcnow

KEY_PREFIX = "chk"
PRINCIPAL_HEADER = "x-chiiki-principal"
SIGNATURE_HEADER = "x-chiiki-signature"
IDENTITY_HEADERS = (PRINCIPAL_HEADER, SIGNATURE_HEADER)
SIGNATURE_MAX_AGE_SECONDS = 300
LAST_USED_RESOLUTION_SECONDS = 60
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    role: str  # an ApiKeyRole value, or "anonymous"
    key_id: str | None = None
    municipality_code: str | None = None
    provider_id: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.role != ANONYMOUS

    def describe(self) -> str:
        tenant = self.municipality_code or self.provider_id
        return f"{self.role}:{tenant}" if tenant else self.role


ANONYMOUS_PRINCIPAL = Principal(role=ANONYMOUS)


# --- keys -----------------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 is enough; a slow hash would only slow every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create_api_key(
    session: AsyncSession,
    role: str,
    *,
    municipality_code: str | None = None,
    provider_id: str | None = None,
    label: str = "",
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plaintext, which is never stored and cannot be shown again."""
    try:
        role = ApiKeyRole(role)
    except ValueError:
        allowed = ", ".join(r.value for r in ApiKeyRole)
        raise Unprocessable(f"unknown role {role!r}; use one of {allowed}", field="role") from None
    if (role == ApiKeyRole.municipality) != (municipality_code is not None):
        raise Unprocessable(
            "a municipality key, and only a municipality key, names a municipality code", field="municipality_code"
        )
    if (role == ApiKeyRole.provider) != (provider_id is not None):
        raise Unprocessable("a provider key, and only a provider key, names a provider id", field="provider_id")
    if municipality_code is not None and await session.get(Municipality, municipality_code) is None:
        raise NotFound(f"no municipality with code {municipality_code}", field="municipality_code")
    if provider_id is not None and await session.get(Provider, provider_id) is None:
        raise NotFound(f"no provider with id {provider_id}", field="provider_id")

    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    api_key = ApiKey(
        id=key_id,
        label=label,
        role=role,
        municipality_code=municipality_code,
        provider_id=provider_id,
        secret_hash=hash_secret(secret),
    )
    session.add(api_key)
    await session.flush()
    return api_key, f"{KEY_PREFIX}_{key_id}_{secret}"


async def list_api_keys(session: AsyncSession, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return list((await session.exec(query)).all())


async def _active_key(session: AsyncSession, key_id: str) -> ApiKey:
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        raise NotFound(f"no API key with id {key_id}", field="key_id")
    if api_key.revoked_at is not None:
        raise Unprocessable(f"API key {key_id} is already revoked", field="key_id")
    return api_key


async def revoke_api_key(session: AsyncSession, key_id: str) -> ApiKey:
    """Refuse the key from the next request on (the gateway reads keys from the database on every request)."""
    api_key = await _active_key(session, key_id)
    api_key.revoked_at = utcnow()
    await session.flush()
    return api_key


async def rotate_api_key(session: AsyncSession, key_id: str, *, grace_seconds: int = 0) -> tuple[ApiKey, str]:
    """A new key with the same role, tenant and label; the old one is refused now, or after the grace period
    (so that a front-end or provider can switch without an outage)."""
    if grace_seconds < 0:
        raise Unprocessable("the grace period cannot be negative", field="grace_seconds")
    old = await _active_key(session, key_id)
    new, plaintext = await create_api_key(
        session, old.role, municipality_code=old.municipality_code, provider_id=old.provider_id, label=old.label
    )
    old.replaced_by = new.id
    if grace_seconds:
        old.expires_at = utcnow() + timedelta(seconds=grace_seconds)
    else:
        old.revoked_at = utcnow()
    await session.flush()
    return new, plaintext


def _is_past(moment: datetime) -> bool:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) <= utcnow()


async def revoke_keys_with_label(session: AsyncSession, label: str) -> int:
    result = await session.exec(
        update(ApiKey).where(col(ApiKey.label) == label, col(ApiKey.revoked_at).is_(None)).values(revoked_at=utcnow())
    )
    return result.rowcount


@dataclass(frozen=True)
class KeyRecord:
    """What checking a key needs of its row: ApiKey's own field names, without the ORM."""

    id: str
    role: str
    municipality_code: str | None
    provider_id: str | None
    secret_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


class StoredKey(Protocol):
    """A key as checking it reads it: a KeyRecord from the gateway's driver-level store, or an ApiKey row."""

    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def municipality_code(self) -> str | None: ...
    @property
    def provider_id(self) -> str | None: ...
    @property
    def secret_hash(self) -> str: ...
    @property
    def last_used_at(self) -> datetime | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...


Key = TypeVar("Key", bound=StoredKey)


def parse_authorization(authorization: str | None) -> tuple[str, str] | None:
    """(key id, secret) from `Authorization: Bearer chk_<id>_<secret>`; None without the header; 401 if malformed."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    parsed = parse_key(token.strip())
    if parsed is None:
        raise Unauthorized("malformed API key: keys look like chk_<id>_<secret>")
    return parsed


async def check_key(lookup: Callable[[str], Awaitable[Key | None]], authorization: str | None) -> Key | None:
    """The key an `Authorization` header names, read by `lookup(key_id)`: None without a header, 401 for a bad,
    revoked or expired key."""
    parsed = parse_authorization(authorization)
    if parsed is None:
        return None
    key_id, secret = parsed
    api_key = await lookup(key_id)
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, hash_secret(secret)):
        raise Unauthorized("unknown API key")
    if api_key.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    if api_key.expires_at is not None and _is_past(api_key.expires_at):
        raise Unauthorized("this API key has expired (it was rotated)")
    return api_key


async def find_key(session: AsyncSession, authorization: str | None) -> ApiKey | None:
    """`check_key` through an ORM session. Read-only."""
    return await check_key(lambda key_id: session.get(ApiKey, key_id), authorization)


def principal_for(api_key: StoredKey | None) -> Principal:
    if api_key is None:
        return ANONYMOUS_PRINCIPAL
    return Principal(
        role=str(api_key.role),
        key_id=api_key.id,
        municipality_code=api_key.municipality_code,
        provider_id=api_key.provider_id,
    )


async def authenticate(session: AsyncSession, authorization: str | None) -> Principal:
    return principal_for(await find_key(session, authorization))


def use_is_stale(api_key: StoredKey, now: datetime | None = None) -> bool:
    """Last use is recorded at most once a minute per key, so that reads do not turn into a write each."""
    if api_key.last_used_at is None:
        return True
    last = api_key.last_used_at
    last = last if last.tzinfo else last.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return (now or utcnow()) - last >= timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)


async def record_key_use(session: AsyncSession, key_id: str) -> None:
    """Set last_used_at. Run it in a transaction of its own: on SQLite a read transaction that later
    writes cannot wait for the lock (SQLITE_BUSY at once), while one that starts by writing can."""
    await session.exec(
        update(ApiKey)
        .where(col(ApiKey.id) == key_id)
        .values(last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# --- the signed principal between gateway and services --------------------------------------------


def _signature(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def sign_principal(principal: Principal, secret: bytes, now: float | None = None) -> dict[str, str]:
    fields = {
        "role": principal.role,
        "key": principal.key_id or "",
        "municipality": principal.municipality_code or "",
        "provider": principal.provider_id or "",
        "ts": str(int(now if now is not None else time.time())),
    }
    payload = urlencode(fields)
    return {PRINCIPAL_HEADER: payload, SIGNATURE_HEADER: _signature(secret, payload)}


class ForgedPrincipal(ValueError):
    pass


# Principals whose signature was checked: the gateway signs each principal again only once a second, so most
# requests carry headers checked before. Only good signatures are kept (a raised exception is not cached).
SIGNED_PRINCIPALS_KEPT = 4096


@lru_cache(maxsize=SIGNED_PRINCIPALS_KEPT)
def _signed_principal(payload: str, signature: str, secret: bytes) -> tuple[Principal, int]:
    """The principal the payload names and the time it was signed at; ForgedPrincipal unless the signature is
    this secret's and the payload well formed."""
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise ForgedPrincipal
    fields = dict(parse_qsl(payload, keep_blank_values=True))
    try:
        signed_at = int(fields["ts"])
    except (KeyError, ValueError):
        raise ForgedPrincipal from None
    principal = Principal(
        role=fields.get("role", ANONYMOUS),
        key_id=fields.get("key") or None,
        municipality_code=fields.get("municipality") or None,
        provider_id=fields.get("provider") or None,
    )
    return principal, signed_at


def verify_principal(
    payload: str | None, signature: str | None, secret: bytes, now: float | None = None
) -> Principal | None:
    """The principal the gateway signed, or None when the headers are missing, forged or stale."""
    if not payload or not signature:
        return None
    try:
        principal, signed_at = _signed_principal(payload, signature, secret)
    except ForgedPrincipal:
        return None
    if abs((now if now is not None else time.time()) - signed_at) > SIGNATURE_MAX_AGE_SECONDS:
        return None
    return principal


# --- dependencies for routes -----------------------------------------------------------------------


def principal_of(request: Request) -> Principal:
    """The principal the service's boundary layer read from the gateway's signed headers (common/app.py)."""
    principal: Principal = getattr(request.state, "principal", ANONYMOUS_PRINCIPAL)
    return principal


async def get_principal(request: Request) -> Principal:
    return principal_of(request)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


class ApiKeyDocumented(HTTPBearer):
    """Only documents that an operation takes `Authorization: Bearer <api key>`: the gateway checks the key and
    never forwards it, so behind the gateway there is nothing to read, and nothing is."""

    async def __call__(self, request: HTTPConnection) -> None:
        return None


API_KEY_SCHEME = ApiKeyDocumented(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `chiiki keys create`: `Authorization: Bearer chk_…`",
)


def require_roles(*roles: ApiKeyRole) -> Callable[[Request, None], Awaitable[Principal]]:
    """A dependency: 401 without a key, 403 when the key's role is not one of `roles` (ops always passes)."""
    allowed = {str(r) for r in roles} | {ApiKeyRole.ops.value}

    async def dependency(request: Request, _documented: Annotated[None, Security(API_KEY_SCHEME)]) -> Principal:
        principal = principal_of(request)
        if not principal.is_authenticated:
            raise Unauthorized()
        if roles and principal.role not in allowed:
            raise Forbidden(f"the {principal.role} role cannot use this endpoint")
        return principal

    return dependency


Authenticated = Annotated[Principal, Depends(require_roles())]
OpsOnly = Annotated[Principal, Depends(require_roles(ApiKeyRole.ops))]
