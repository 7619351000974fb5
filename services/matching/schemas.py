"""Request and response bodies of the matching API. The profile bodies share their fields (and limits) with the
tables through the `…Base` classes of common/models/matching.py; the views with computed parts are described in
services/matching/responses.py."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlmodel._compat import SQLModelConfig  # SQLModel exports no public name for its config type

from common.models.matching import (
    AdviserBase,
    CompanyBase,
    FieldOfWorkBase,
    Market,
    MatchStatus,
    NeedBase,
    PartyKind,
    TieBreakMethod,
)
from common.timeutil import aware

PARTY_PATTERN = r"^(municipality|company|adviser):[A-Za-z0-9_-]{1,40}$"


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A request model's config: fields it does not know are refused, as every chiiki body does
    (common.schemas.RequestBody), and example bodies for the document (ids of the demo market)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(bodies)})


def profile_examples(*bodies: dict[str, Any]) -> SQLModelConfig:
    """The same for bodies built on the tables' SQLModel bases, whose config type is SQLModel's own."""
    return SQLModelConfig(extra="forbid", json_schema_extra={"examples": list(bodies)})


# A stored time in UTC: SQLite gives it back without its zone, which a date-time of the document must have.
UtcTime = Annotated[datetime, AfterValidator(aware)]


# --- vocabulary ------------------------------------------------------------------------------------


class FieldOfWorkPublic(FieldOfWorkBase):
    pass


# --- municipality needs ----------------------------------------------------------------------------


class NeedCreate(NeedBase):
    model_config = profile_examples(
        {
            "market": "kigyojin",
            "title": "ICT・デジタル：役場業務のDXと人材育成",
            "fields": ["ict_digital"],
            "capacity": 1,
            "dispatch_months": 12,
            "description": "窓口のオンライン化と職員研修",
        }
    )


class NeedUpdate(BaseModel):
    model_config = examples({"capacity": 2, "wished_partners": ["co_demo_001"]}, {"open": False})

    title: str | None = Field(default=None, min_length=1, max_length=120)
    fields: list[str] | None = None
    capacity: int | None = Field(default=None, ge=1, le=50)
    dispatch_months: int | None = Field(default=None, ge=1, le=120)
    description: str | None = Field(default=None, max_length=4000)
    wished_partners: list[str] | None = None
    in_teiju_jiritsuken: bool | None = None
    high_population_decline: bool | None = None
    open: bool | None = None


class NeedPublic(NeedBase):
    id: str
    municipality_code: str
    created_at: UtcTime
    updated_at: UtcTime


# --- companies -------------------------------------------------------------------------------------


class CompanyCreate(CompanyBase):
    model_config = profile_examples(
        {
            "name": "みらいデジタル株式会社",
            "municipality_code": "131016",
            "markets": ["kigyojin", "satellite_office"],
            "fields": ["ict_digital", "tourism"],
            "capacity": 2,
            "dispatch_months": 12,
            "preferred_prefectures": ["01"],
        }
    )


class CompanyUpdate(BaseModel):
    model_config = examples({"capacity": 3, "track_record": 4})

    name: str | None = Field(default=None, min_length=1, max_length=120)
    head_office_function_in_three_metro_area: bool | None = None
    markets: list[Market] | None = None
    fields: list[str] | None = None
    capacity: int | None = Field(default=None, ge=1, le=100)
    dispatch_months: int | None = Field(default=None, ge=1, le=120)
    track_record: int | None = Field(default=None, ge=0, le=10_000)
    preferred_prefectures: list[str] | None = None
    wished_municipalities: list[str] | None = None
    description: str | None = Field(default=None, max_length=4000)


class CompanyPublic(CompanyBase):
    id: str
    created_at: UtcTime
    updated_at: UtcTime


# --- advisers --------------------------------------------------------------------------------------


class AdviserCreate(AdviserBase):
    model_config = profile_examples(
        {
            "name": "佐藤 健一",
            "adviser_type": "private_expert",
            "municipality_code": "011002",
            "fields": ["tourism"],
            "capacity": 2,
            "experience_years": 12,
        }
    )


class AdviserUpdate(BaseModel):
    model_config = examples({"experience_years": 13, "preferred_prefectures": ["01", "16"]})

    name: str | None = Field(default=None, min_length=1, max_length=120)
    municipality_code: str | None = Field(default=None, max_length=6)
    fields: list[str] | None = None
    capacity: int | None = Field(default=None, ge=1, le=50)
    experience_years: int | None = Field(default=None, ge=0, le=80)
    preferred_prefectures: list[str] | None = None
    wished_municipalities: list[str] | None = None
    description: str | None = Field(default=None, max_length=4000)


class AdviserPublic(AdviserBase):
    id: str
    created_at: UtcTime
    updated_at: UtcTime


# --- rounds ----------------------------------------------------------------------------------------


class RoundStatus(StrEnum):
    open = "open"  # taking preferences
    solved = "solved"


class TieBreakIn(BaseModel):
    method: TieBreakMethod = TieBreakMethod.id_order
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="the lottery's seed; drawn by the server (and shown) when a lottery has none",
    )


class RoundCreate(BaseModel):
    model_config = examples(
        {"name": "地域活性化起業人マッチングセミナー", "market": "kigyojin", "proposing_side": "municipality"},
        {
            "name": "アドバイザー・マッチング",
            "market": "advisor",
            "proposing_side": "adviser",
            "tie_break": {"method": "lottery", "seed": 2023},
        },
    )

    name: str = Field(min_length=1, max_length=120)
    market: Market
    proposing_side: PartyKind = Field(description="municipality, or company (adviser in the advisor market)")
    tie_break: TieBreakIn = Field(
        default_factory=TieBreakIn, description="how tied candidates in a ranking are ordered: id_order or lottery"
    )


class PreferencesIn(BaseModel):
    model_config = examples(
        {
            "participant": "municipality:012092",
            "capacity": 1,
            "ranking": ["company:co_demo_001", ["company:co_demo_003", "company:co_demo_005"]],
        }
    )

    participant: str = Field(pattern=PARTY_PATTERN, description="municipality:CODE, company:ID or adviser:ID")
    capacity: int = Field(ge=1, le=100)
    ranking: list[str | list[str]] = Field(
        max_length=5000,
        description="the other side's participants, best first; a list entry ranks its members "
        "equally (a tie, broken by the round's tie_break)",
    )


# --- matches ---------------------------------------------------------------------------------------


class MatchCreate(BaseModel):
    model_config = examples(
        {"market": "kigyojin", "municipality_code": "012092", "company_id": "co_demo_003"},
        {"market": "advisor", "municipality_code": "012092", "adviser_id": "adv_demo_001"},
    )

    market: Market
    municipality_code: str = Field(min_length=6, max_length=6)
    company_id: str | None = Field(default=None, max_length=40)
    adviser_id: str | None = Field(default=None, max_length=40)
    need_id: str | None = Field(default=None, max_length=40)
    round_id: str | None = Field(default=None, max_length=40)


class TransitionIn(BaseModel):
    model_config = examples({"to": "accepted"})

    to: MatchStatus
