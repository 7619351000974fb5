"""Request and response bodies of the point-issuance API (tables are in common.models.mynapoint)."""

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.codes import MUNICIPALITY_CODE_DESCRIPTION, MUNICIPALITY_CODE_PATTERN
from common.schemas import AwareDatetime, BoundedDate, RequestBody


class Eligibility(RequestBody):
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    age_reference_date: BoundedDate | None = None
    household_with_children: bool | None = None
    max_income_band: int | None = Field(default=None, ge=0)
    requires_activity: bool | None = None


class ProgramCreate(RequestBody):
    municipality_code: str = Field(min_length=6, max_length=6, pattern=MUNICIPALITY_CODE_PATTERN,
                                   description=MUNICIPALITY_CODE_DESCRIPTION)
    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(default="", max_length=200)
    template: str | None = Field(default=None, description="a built-in template id; its values fill what is omitted")
    kind: Literal["fixed", "premium"] | None = None
    points_per_person: int | None = Field(default=None, gt=0)
    premium_rate: str | None = Field(default=None, max_length=20, pattern=r"^[0-9]+(\.[0-9]+|/[0-9]*[1-9][0-9]*)?$",
                                     description='exact, above 0 and at most 1: "1/4" or "0.25"')
    per_person_cap: int | None = Field(default=None, gt=0)
    budget_yen: int = Field(ge=0, strict=True)
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    provider_ids: list[str] = Field(min_length=1)
    eligibility: Eligibility = Field(default_factory=Eligibility)

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
    opens_at: datetime
    closes_at: datetime
    provider_ids: list[str]
    eligibility: dict[str, Any]

    @field_validator("opens_at", "closes_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


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


class Funding(RequestBody):
    amount_yen: int = Field(gt=0, strict=True)


class ApplicationCreate(RequestBody):
    myki_id: str = Field(min_length=1, max_length=64)
    provider_id: str = Field(min_length=1, max_length=40)
    provider_account_id: str = Field(min_length=1, max_length=100)


class ProviderCreate(RequestBody):
    name: str = Field(min_length=1, max_length=120)
    webhook_url: str = Field(min_length=1, max_length=2048)


class ProviderUpdate(RequestBody):
    """Only the fields sent change."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)


class SecretRotation(RequestBody):
    overlap_hours: int = Field(default=24, ge=0, le=24 * 30)


class ChargeCompleted(BaseModel):
    """The data of an inbound charge.completed event."""

    charge_id: str = Field(min_length=1, max_length=100)
    program_id: str = Field(min_length=1, max_length=40)
    provider_account_id: str = Field(min_length=1, max_length=100)
    amount_yen: int = Field(gt=0, strict=True)
