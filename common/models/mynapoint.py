"""Point-issuance tables. Providers are the payment services (決済事業者) points are issued through.

Money invariants live in the database: a program's reserved + posted never exceeds its budget (CHECK, which
refuses a reservation the budget does not cover), one grant per (program, resident, source) (UNIQUE), one
application per (program, resident) (UNIQUE), and every movement of a program's balances is a ledger row.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, CheckConstraint, DateTime, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from common.ids import new_id
from common.schemas import StoredDatetime
from common.timeutil import utcnow


class ProgramKind(StrEnum):
    fixed = "fixed"
    premium = "premium"


class GrantStatus(StrEnum):
    reserved = "reserved"
    posted = "posted"
    voided = "voided"
    revoked = "revoked"


class LedgerKind(StrEnum):
    fund = "fund"  # budget +amount (initial budget and top-ups)
    reserve = "reserve"  # reserved +amount (a grant approved)
    post = "post"  # reserved −amount, posted +amount (grant.credited)
    void = "void"  # reserved −amount (delivery finally failed, expired, or revoked before credit)
    revoke = "revoke"  # posted −amount (a credited grant taken back)


class ProgramStatus(StrEnum):
    open = "open"  # takes applications within its window
    paused = "paused"  # refuses new applications for now; reserved grants run their course
    closed = "closed"  # refuses new applications for good (it may be opened again by its municipality)


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    cancelled = "cancelled"  # withdrawn before it was sent (its grant was voided); never sent again


# --- providers ------------------------------------------------------------------------------------------


class ProviderBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    webhook_url: str = Field(max_length=2048)


class Provider(ProviderBase, table=True):
    __tablename__ = "provider"
    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    # Signing secrets must be usable to sign, so they are stored as issued (whsec_…); never returned after creation.
    webhook_secret: str | None = Field(default=None, max_length=100)
    previous_webhook_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    webhook_disabled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ProviderPublic(ProviderBase):
    id: str
    created_at: StoredDatetime
    webhook_disabled_at: StoredDatetime | None = None


# --- programs -------------------------------------------------------------------------------------------


class Program(SQLModel, table=True):
    __tablename__ = "program"
    __table_args__ = (
        CheckConstraint("reserved_yen >= 0 AND posted_yen >= 0", name="balances_not_negative"),
        CheckConstraint("reserved_yen + posted_yen <= budget_yen", name="within_budget"),
        CheckConstraint("kind IN ('fixed', 'premium')", name="known_kind"),
    )

    id: str = Field(primary_key=True, max_length=40)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    name: str = Field(max_length=200)
    purpose: str = Field(default="", max_length=200)
    kind: ProgramKind = Field(sa_type=String(16))
    points_per_person: int | None = None
    premium_rate: str | None = Field(default=None, max_length=20, description="exact rate as text, e.g. 1/4")
    per_person_cap: int | None = None
    budget_yen: int = Field(default=0, sa_type=BigInteger)
    reserved_yen: int = Field(default=0, sa_type=BigInteger)
    posted_yen: int = Field(default=0, sa_type=BigInteger)
    opens_at: datetime = Field(sa_type=DateTime(timezone=True))
    closes_at: datetime = Field(sa_type=DateTime(timezone=True))
    provider_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    eligibility: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    template: str | None = Field(default=None, max_length=40)
    status: ProgramStatus = Field(
        default=ProgramStatus.open, sa_type=String(16), sa_column_kwargs={"server_default": ProgramStatus.open.value}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ProgramChange(SQLModel, table=True):
    """One change of a program's name, closes_at or status: who made it, when, in which request, and the
    changed fields before and after. Written with the change, never updated."""

    __tablename__ = "program_change"
    id: int | None = Field(default=None, primary_key=True)  # in the order of the changes
    program_id: str = Field(foreign_key="program.id", max_length=40, index=True)
    actor: str = Field(max_length=120, description="the caller's role and tenant, e.g. municipality:012092")
    key_id: str | None = Field(default=None, max_length=40, description="the API key's public id")
    request_id: str | None = Field(default=None, max_length=128)
    before: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    after: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class RosterEntry(SQLModel, table=True):
    """A resident's attributes as the municipality attests them, keyed by the hashed マイキーID."""

    __tablename__ = "roster_entry"
    program_id: str = Field(foreign_key="program.id", primary_key=True, max_length=40)
    myki_hash: str = Field(primary_key=True, max_length=64)
    birth_date: date | None = None
    household_with_children: bool = False
    income_band: int | None = None
    activity_participation: bool = False
    # What lists and pages name an entry by: the hashed マイキーID is never shown. A new one at each upsert.
    entry_id: str = Field(default_factory=lambda: new_id("res"), max_length=40, unique=True, index=True)
    card_applied_on: date | None = Field(
        default=None,
        description="the day (JST) the resident applied for the マイナンバーカード, as the municipality attests it",
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Application(SQLModel, table=True):
    __tablename__ = "application"
    __table_args__ = (
        UniqueConstraint("program_id", "myki_hash", name="uq_application_program_resident"),
        CheckConstraint("granted_yen >= 0", name="granted_not_negative"),
    )

    id: str = Field(primary_key=True, max_length=40)
    program_id: str = Field(foreign_key="program.id", max_length=40)
    myki_hash: str = Field(max_length=64)
    provider_id: str = Field(foreign_key="provider.id", max_length=40)
    provider_account_id: str = Field(max_length=100)
    granted_yen: int = Field(default=0, sa_type=BigInteger, description="points granted so far (premium cap)")
    request_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    unlinked_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        description="the provider reported the account unlinked (account.unlinked)",
    )


class Grant(SQLModel, table=True):
    __tablename__ = "point_grant"
    __table_args__ = (
        UniqueConstraint("program_id", "myki_hash", "source", name="uq_point_grant_program_resident_source"),
        CheckConstraint("status IN ('reserved', 'posted', 'voided', 'revoked')", name="known_status"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: str = Field(primary_key=True, max_length=40)
    program_id: str = Field(foreign_key="program.id", max_length=40, index=True)
    application_id: str = Field(foreign_key="application.id", max_length=40)
    provider_id: str = Field(foreign_key="provider.id", max_length=40, index=True)
    myki_hash: str = Field(max_length=64)
    source: str = Field(max_length=120, description="'application' for a fixed grant, 'charge:<id>' for premium")
    points: int = Field(sa_type=BigInteger)
    status: GrantStatus = Field(default=GrantStatus.reserved, sa_type=String(16))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class GrantPublic(SQLModel):
    id: str
    program_id: str
    provider_id: str
    points: int
    status: str
    created_at: StoredDatetime
    expires_at: StoredDatetime


class LedgerEntry(SQLModel, table=True):
    """Append-only: each row moves a program's budget, reserved or posted balance (signed yen)."""

    __tablename__ = "ledger_entry"
    # A grant is reserved, posted, voided or revoked once each: a second movement of one kind would count it twice.
    __table_args__ = (UniqueConstraint("grant_id", "kind", name="uq_ledger_entry_grant_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    program_id: str = Field(foreign_key="program.id", max_length=40, index=True)
    grant_id: str | None = Field(default=None, foreign_key="point_grant.id", max_length=40)
    provider_id: str | None = Field(default=None, foreign_key="provider.id", max_length=40)
    kind: LedgerKind = Field(sa_type=String(16))
    budget_delta: int = Field(default=0, sa_type=BigInteger)
    reserved_delta: int = Field(default=0, sa_type=BigInteger)
    posted_delta: int = Field(default=0, sa_type=BigInteger)
    request_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)


# --- idempotency and webhooks ------------------------------------------------------------------------------


class IdempotencyRecord(SQLModel, table=True):
    """A claimed Idempotency-Key; response_status is null while the first request is still running."""

    __tablename__ = "idempotency_record"
    id: str = Field(primary_key=True, max_length=64, description="sha256 of caller, route and key")
    request_hash: str = Field(max_length=64)
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)


class OutboxEvent(SQLModel, table=True):
    """An outbound webhook, written in the transaction that caused it and sent by the delivery worker."""

    __tablename__ = "outbox_event"
    id: str = Field(primary_key=True, max_length=40, description="the webhook-id")
    provider_id: str = Field(foreign_key="provider.id", max_length=40, index=True)
    event_type: str = Field(max_length=60)
    body: str = Field(sa_type=Text, description="the exact JSON bytes that are signed and sent")
    grant_id: str | None = Field(
        default=None, max_length=40, index=True, description="the grant a grant.* event is about"
    )
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)
    lease_token: str | None = Field(default=None, max_length=40)
    lease_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class DeliveryPublic(SQLModel):
    id: str
    provider_id: str
    event_type: str
    grant_id: str | None = None
    status: str
    attempts: int
    next_attempt_at: StoredDatetime
    last_status_code: int | None
    last_error: str | None
    created_at: StoredDatetime
    delivered_at: StoredDatetime | None


class DeliveryAttempt(SQLModel, table=True):
    """One attempt of the worker to send an outbound event: when, what the endpoint answered (or why it could
    not be reached) and how long it took. Append-only."""

    __tablename__ = "delivery_attempt"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="outbox_event.id", max_length=40, index=True)
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    latency_ms: int = 0
    # False only when the request certainly never left (no connection, a refused address, a disabled endpoint).
    request_sent: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})


class InboundWebhook(SQLModel, table=True):
    """Every verified inbound event, once: the primary key dedupes a provider's retries."""

    __tablename__ = "inbound_webhook"
    provider_id: str = Field(foreign_key="provider.id", primary_key=True, max_length=40)
    webhook_id: str = Field(primary_key=True, max_length=120)
    event_type: str = Field(max_length=60)
    outcome: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
