"""One settings class for every process, read from `CHIIKI_*` environment variables (and `.env`)."""

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    # An error never repeats the input: it holds every secret and the database URL with its password.
    model_config = SettingsConfigDict(env_prefix="CHIIKI_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    env: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = "sqlite+aiosqlite:///var/chiiki.db"
    # Connections each process keeps open. A request holds one for its transaction, and more requests wait
    # for one. No overflow by default: connections opened for a burst and closed after it made PostgreSQL start
    # a backend process each time, which cost more CPU than the work (bench/mynapoint.py). Keep the server's
    # max_connections above the sum over processes: services, gateway, workers.
    database_pool_size: int = Field(20, ge=1)
    database_max_overflow: int = Field(0, ge=0)

    # Shared by the gateway and the services: the gateway signs the caller's identity with it.
    internal_secret: SecretStr | None = None
    # Services refuse requests that carry no gateway signature; only tests turn this off.
    require_gateway: bool = True

    host: str = "127.0.0.1"
    gateway_port: int = 8000
    subsidy_port: int = 8001
    matching_port: int = 8002
    mynapoint_port: int = 8003

    subsidy_url: str = "http://127.0.0.1:8001"
    matching_url: str = "http://127.0.0.1:8002"
    mynapoint_url: str = "http://127.0.0.1:8003"
    upstream_timeout_seconds: float = 15.0
    upstream_connect_timeout_seconds: float = 3.0
    upstream_max_connections: int = 200
    # Longer timeouts for named routes: {"POST /subsidy/calculate/batch": 60}; the longest matching prefix wins.
    upstream_route_timeouts: dict[str, float] = {}

    # Token buckets at the gateway: `burst` requests at once, refilled at `per_minute`.
    # Unset: on, except in the test environment (whose tests set it when they test the limits).
    rate_limit_enabled: bool | None = None
    rate_limit_key_per_minute: int = Field(600, ge=1)
    rate_limit_key_burst: int = Field(100, ge=1)
    rate_limit_anonymous_per_minute: int = Field(60, ge=1)
    rate_limit_anonymous_burst: int = Field(30, ge=1)
    # Unset: each gateway process counts on its own. Set (redis://host:6379/0): every replica shares the buckets.
    rate_limit_redis_url: str | None = None

    # Front-end origins allowed by CORS, comma-separated (https://app.example.jp,https://ops.example.jp).
    cors_origins: str = ""
    max_body_bytes: int = Field(1_048_576, ge=1)
    # Larger bodies for named routes (longest matching prefix wins): a batch of 10,000 calculations is ~2 MB.
    route_max_body_bytes: dict[str, int] = {"POST /subsidy/calculate/batch": 16_777_216}

    # Keys the HMAC under which マイキーIDs are stored; generated into var/ outside production like internal_secret.
    myki_secret: SecretStr | None = None
    # Plain-http and private/loopback provider webhook URLs; unset means allowed except in production.
    allow_insecure_webhooks: bool | None = None
    webhook_timeout_seconds: float = 15.0
    # How long an approved grant may wait for the provider's grant.credited before it is voided.
    grant_reservation_hours: int = 168
    worker_poll_seconds: float = 1.0
    # A delivery worker's hold on the events it is sending, renewed every third of it while it still sends:
    # only a worker that stopped loses it, and its events go to another worker within this many seconds.
    worker_lease_seconds: float = Field(10.0, ge=0.5)

    log_level: str = "INFO"
    log_json: bool = True
    # FastAPI's own OpenTelemetry spans and metrics, for a process whose OpenTelemetry SDK an operator has set up.
    # Off by default: FastAPI would look for a configured provider at every request, about 6% of the point
    # issuance service's CPU (bench/mynapoint.py); chiiki's Prometheus metrics and request ids need none of it.
    opentelemetry: bool = False

    @field_validator("internal_secret", "myki_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        # `CHIIKI_INTERNAL_SECRET=` in a .env file must not become an empty signing key.
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.env != "production":
            return self
        secret = self.internal_secret.get_secret_value() if self.internal_secret else ""
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"CHIIKI_INTERNAL_SECRET must be set to at least {MIN_SECRET_LENGTH} characters "
                "when CHIIKI_ENV=production"
            )
        myki = self.myki_secret.get_secret_value() if self.myki_secret else ""
        if len(myki) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"CHIIKI_MYKI_SECRET must be set to at least {MIN_SECRET_LENGTH} characters when CHIIKI_ENV=production"
            )
        if self.allow_insecure_webhooks:
            raise ValueError("CHIIKI_ALLOW_INSECURE_WEBHOOKS cannot be true when CHIIKI_ENV=production")
        if not self.require_gateway:
            raise ValueError("CHIIKI_REQUIRE_GATEWAY cannot be false when CHIIKI_ENV=production")
        return self

    def rate_limits_on(self) -> bool:
        return self.rate_limit_enabled if self.rate_limit_enabled is not None else self.env != "test"

    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def internal_secret_bytes(self) -> bytes:
        """The gateway-to-service signing secret.

        Outside production, a missing secret is generated once at run time and kept in
        `var/internal-secret` so that every local process shares it; it never enters the repository.
        """
        return self._secret_bytes(self.internal_secret, "internal-secret")

    def myki_secret_bytes(self) -> bytes:
        """The key of the マイキーID hash; generated into `var/myki-secret` outside production."""
        return self._secret_bytes(self.myki_secret, "myki-secret")

    def insecure_webhooks_allowed(self) -> bool:
        if self.allow_insecure_webhooks is None:
            return self.env != "production"
        return self.allow_insecure_webhooks

    def _secret_bytes(self, configured: SecretStr | None, file_name: str) -> bytes:
        if configured is not None:
            return configured.get_secret_value().encode()
        path = self.var_dir / file_name
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()
