"""API keys: stored as a SHA-256 of their secret part, bound to a role and, for some roles, a tenant."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, String
from sqlmodel import Field, SQLModel

from common.timeutil import utcnow


class ApiKeyRole(StrEnum):
    ops = "ops"
    municipality = "municipality"
    provider = "provider"
    app = "app"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("(role = 'municipality') = (municipality_code IS NOT NULL)", name="municipality_binding"),
        CheckConstraint("(role = 'provider') = (provider_id IS NOT NULL)", name="provider_binding"),
        CheckConstraint("role IN ('ops', 'municipality', 'provider', 'app')", name="known_role"),
    )

    id: str = Field(primary_key=True, max_length=16, description="public key id, the part after chk_")
    label: str = Field(default="", max_length=80)
    role: ApiKeyRole = Field(sa_type=String(16))
    municipality_code: str | None = Field(default=None, foreign_key="municipality.code", max_length=6)
    provider_id: str | None = Field(default=None, foreign_key="provider.id", max_length=40)
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Set when the key was rotated with a grace period: refused from then on, like a revoked key.
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    replaced_by: str | None = Field(default=None, max_length=16, description="the id of the key that replaced it")
