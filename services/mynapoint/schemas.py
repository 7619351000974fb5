"""Request and response bodies of the point-issuance API (tables are in common.models.mynapoint). Every
success response has its model here, so the OpenAPI document names each property a client reads."""

from datetime import date
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.codes import MUNICIPALITY_CODE_DESCRIPTION, MUNICIPALITY_CODE_PATTERN
from common.models.mynapoint import DeliveryPublic, ProgramStatus, ProviderPublic
from common.schemas import AwareDatetime, BoundedDate, RequestBody, StoredDatetime


class ApplicationStatus(StrEnum):
    active = "active"  # linked to its payment account
    unlinked = "unlinked"  # the provider reported the account unlinked; applying again re-links it


class Eligibility(RequestBody):
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    age_reference_date: BoundedDate | None = None
    household_with_children: bool | None = None
    max_income_band: int | None = Field(default=None, ge=0)
    requires_activity: bool | None = None
    card_applied_by: BoundedDate | None = Field(
        default=None,
        description="the resident's マイナンバーカード must have been applied for on or before this day "
        "(JST; the roster's card_applied_on): the deadlines of マイナポイント第1弾 and 第2弾",
    )


class ProgramCreate(RequestBody):
    municipality_code: str = Field(
        min_length=6, max_length=6, pattern=MUNICIPALITY_CODE_PATTERN, description=MUNICIPALITY_CODE_DESCRIPTION
    )
    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(default="", max_length=200)
    template: str | None = Field(default=None, description="a built-in template id; its values fill what is omitted")
    kind: Literal["fixed", "premium"] | None = None
    points_per_person: int | None = Field(default=None, gt=0)
    premium_rate: str | None = Field(
        default=None,
        max_length=20,
        pattern=r"^[0-9]+(\.[0-9]+|/[0-9]*[1-9][0-9]*)?$",
        description='exact, above 0 and at most 1: "1/4" or "0.25"',
    )
    per_person_cap: int | None = Field(default=None, gt=0)
    budget_yen: int = Field(ge=0, strict=True)
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    provider_ids: list[str] = Field(min_length=1)
    eligibility: Eligibility = Field(default_factory=Eligibility)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "municipality_code": "012092",
                    "name": "夕張市 子育て応援ポイント",
                    "template": "mynapoint-2-health-insurance",
                    "budget_yen": 7_500_000,
                    "provider_ids": ["prov_0123456789abcdef0123"],
                    "opens_at": "2023-06-01T00:00:00+09:00",
                    "closes_at": "2024-04-01T00:00:00+09:00",
                }
            ]
        }
    )

    @field_validator("premium_rate")
    @classmethod
    def _exact_rate(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            rate = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError('premium_rate must be an exact fraction such as "1/4"') from None
        if not 0 < rate <= 1:
            raise ValueError("premium_rate must be above 0 and at most 1")
        return str(rate)


class ProgramPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    municipality_code: str
    name: str
    purpose: str
    kind: str
    template: str | None
    points_per_person: int | None
    premium_rate: str | None
    per_person_cap: int | None
    budget_yen: int
    reserved_yen: int
    posted_yen: int
    opens_at: StoredDatetime
    closes_at: StoredDatetime
    provider_ids: list[str]
    eligibility: dict[str, Any]
    status: ProgramStatus = ProgramStatus.open


class ProgramUpdate(RequestBody):
    """Only the fields sent change; each change is recorded (GET /mynapoint/programs/{program_id}/changes)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    closes_at: AwareDatetime | None = Field(default=None, description="never before now, and after opens_at")
    status: ProgramStatus | None = Field(
        default=None, description="paused or closed refuse new applications; grants already reserved are untouched"
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "paused"}, {"closes_at": "2024-04-01T00:00:00+09:00"}]}
    )


class ProgramChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    program_id: str
    actor: str = Field(description="the caller's role and tenant, e.g. municipality:012092")
    key_id: str | None
    request_id: str | None
    changed_at: StoredDatetime
    before: dict[str, Any] = Field(description="the changed fields as they were")
    after: dict[str, Any] = Field(description="the changed fields as they are now")


class TemplatePublic(BaseModel):
    id: str
    description: str
    kind: str
    premium_rate: str | None = None
    per_person_cap: int | None = None
    points_per_person: int | None = None
    opens_at: StoredDatetime
    closes_at: StoredDatetime
    eligibility: dict[str, Any] = Field(description="rules a program made from it enforces, e.g. card_applied_by")


class TemplateList(BaseModel):
    items: list[TemplatePublic]


class RosterRow(BaseModel):
    """One roster row (the route reads the rows itself). Not a RequestBody: its per-field NUL check would
    cost a third of a large upload's time, and every field here refuses a NUL by its own rule (the マイキーID's
    alphabet, the date's format, booleans and numbers)."""

    model_config = ConfigDict(extra="forbid")

    myki_id: str = Field(min_length=1, max_length=64)
    birth_date: BoundedDate | None = None
    household_with_children: bool = False
    income_band: int | None = Field(default=None, ge=0)
    activity_participation: bool = False
    card_applied_on: BoundedDate | None = Field(
        default=None, description="the day (JST) the resident applied for the マイナンバーカード"
    )


class RosterRowError(BaseModel):
    row: int
    field: str | None
    message: str


class RosterUpload(BaseModel):
    upserted: int = Field(description="rows written; 0 when any row has an error (all rows or none)")
    errors: list[RosterRowError]


class RosterEntryPublic(BaseModel):
    """A roster entry's attributes; never the マイキーID nor its hash."""

    model_config = ConfigDict(from_attributes=True)

    entry_id: str
    birth_date: date | None
    household_with_children: bool
    income_band: int | None
    activity_participation: bool
    card_applied_on: date | None
    updated_at: StoredDatetime


class Funding(RequestBody):
    amount_yen: int = Field(gt=0, strict=True)

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount_yen": 1_000_000}]})


class ApplicationCreate(RequestBody):
    myki_id: str = Field(min_length=1, max_length=64)
    provider_id: str = Field(min_length=1, max_length=40)
    provider_account_id: str = Field(min_length=1, max_length=100)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "myki_id": "mykiid-0001",
                    "provider_id": "prov_0123456789abcdef0123",
                    "provider_account_id": "acct-8842",
                }
            ]
        }
    )


class ReasonPublic(BaseModel):
    code: str = Field(description="stable machine code, e.g. not_on_roster, budget_exhausted")
    message: str = Field(description="plain words for the resident")


class GrantBrief(BaseModel):
    id: str
    points: int
    status: str


class ApplicationResult(BaseModel):
    application_id: str | None = Field(description="null when the resident was refused")
    eligible: bool
    reasons: list[ReasonPublic]
    grant: GrantBrief | None


class ApplicationPublic(BaseModel):
    """An application as an officer sees it; never the resident's マイキーID nor its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    program_id: str
    provider_id: str
    provider_account_id: str
    granted_yen: int
    status: ApplicationStatus
    created_at: StoredDatetime
    unlinked_at: StoredDatetime | None


class ResidentStatusQuery(RequestBody):
    myki_id: str = Field(min_length=1, max_length=64)

    model_config = ConfigDict(json_schema_extra={"examples": [{"myki_id": "mykiid-0001"}]})


class GrantState(BaseModel):
    id: str
    points: int
    status: str
    created_at: StoredDatetime
    expires_at: StoredDatetime
    resolved_at: StoredDatetime | None
    reason: ReasonPublic = Field(description="what the state means for the resident, in plain words")


class ApplicationState(BaseModel):
    id: str
    provider_id: str
    created_at: StoredDatetime
    unlinked_at: StoredDatetime | None


class ResidentStatus(BaseModel):
    program_id: str
    on_roster: bool
    eligible: bool = Field(description="whether the resident may receive the program's points now")
    reasons: list[ReasonPublic] = Field(description="why not, or what is under way, in plain words")
    application: ApplicationState | None
    grants: list[GrantState]


class ProviderCreate(RequestBody):
    name: str = Field(min_length=1, max_length=120)
    webhook_url: str = Field(min_length=1, max_length=2048)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "テストペイ", "webhook_url": "https://pay.example/hooks"}]}
    )


class ProviderUpdate(RequestBody):
    """Only the fields sent change."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)

    model_config = ConfigDict(json_schema_extra={"examples": [{"webhook_url": "https://pay.example/hooks/v2"}]})


class ProviderCreated(ProviderPublic):
    webhook_secret: str = Field(description="whsec_…: shown only in this response")


class SecretRotation(RequestBody):
    overlap_hours: int = Field(default=24, ge=0, le=24 * 30)

    model_config = ConfigDict(json_schema_extra={"examples": [{"overlap_hours": 24}]})


class SecretRotated(BaseModel):
    id: str
    webhook_secret: str = Field(description="the new whsec_… secret: shown only in this response")
    previous_secret_expires_at: StoredDatetime


class Recovery(RequestBody):
    since: AwareDatetime
    until: AwareDatetime | None = Field(default=None, description="exclusive; now when omitted")

    model_config = ConfigDict(json_schema_extra={"examples": [{"since": "2023-06-01T09:00:00+09:00"}]})


class RecoverySkip(BaseModel):
    event_id: str
    code: str
    message: str


class RecoveryResult(BaseModel):
    queued: int = Field(description="failed deliveries queued again")
    deliveries: list[str] = Field(description="the ids of the deliveries that will be sent")
    skipped: list[RecoverySkip] = Field(description="failed deliveries the redelivery rules leave as they are")


class DeliveryAttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: StoredDatetime
    status_code: int | None = Field(description="the endpoint's HTTP status; null when it could not be reached")
    error: str | None
    latency_ms: int
    request_sent: bool = Field(
        description="false when the request certainly never left (no connection, a refused address, a disabled "
        "endpoint); true when it may have reached the endpoint"
    )


class DeliveryDetail(DeliveryPublic):
    attempts_made: list[DeliveryAttemptPublic]


class SettlementLine(BaseModel):
    municipality_code: str
    provider_id: str
    month: str
    credited_count: int
    credited_yen: int
    revoked_count: int
    revoked_yen: int
    net_yen: int


class SettlementReport(BaseModel):
    month: str
    items: list[SettlementLine]


class InboundReceipt(BaseModel):
    webhook_id: str
    duplicate: bool
    type: str | None = None
    outcome: str | None = None


class ChargeCompleted(BaseModel):
    """The data of an inbound charge.completed event."""

    charge_id: str = Field(min_length=1, max_length=100)
    program_id: str = Field(min_length=1, max_length=40)
    provider_account_id: str = Field(min_length=1, max_length=100)
    amount_yen: int = Field(gt=0, strict=True)
