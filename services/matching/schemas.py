"""Request and response bodies of the matching API. The profile bodies share their fields (and limits) with the
tables through the `…Base` classes of common/models/matching.py; views with computed parts are built by the
service modules."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
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

PARTY_PATTERN = r"^(municipality|company|adviser):[A-Za-z0-9_-]{1,40}$"


# Request bodies refuse fields they do not know, as every chiiki body does (common.schemas.RequestBody).
FORBID_UNKNOWN_FIELDS = ConfigDict(extra="forbid")
# The same for bodies built on the tables' SQLModel bases, whose config type is SQLModel's own.
FORBID_UNKNOWN_PROFILE_FIELDS = SQLModelConfig(extra="forbid")


# --- vocabulary ------------------------------------------------------------------------------------

class FieldOfWorkPublic(FieldOfWorkBase):
    pass


# --- municipality needs ----------------------------------------------------------------------------

class NeedCreate(NeedBase):
    model_config = FORBID_UNKNOWN_PROFILE_FIELDS


class NeedUpdate(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

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
    created_at: datetime
    updated_at: datetime


# --- companies -------------------------------------------------------------------------------------

class CompanyCreate(CompanyBase):
    model_config = FORBID_UNKNOWN_PROFILE_FIELDS


class CompanyUpdate(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

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
    created_at: datetime
    updated_at: datetime


# --- advisers --------------------------------------------------------------------------------------

class AdviserCreate(AdviserBase):
    model_config = FORBID_UNKNOWN_PROFILE_FIELDS


class AdviserUpdate(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

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
    created_at: datetime
    updated_at: datetime


# --- rounds ----------------------------------------------------------------------------------------

class RoundStatus(StrEnum):
    open = "open"  # taking preferences
    solved = "solved"


class TieBreakIn(BaseModel):
    method: TieBreakMethod = TieBreakMethod.id_order
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1,
                             description="the lottery's seed; drawn by the server (and shown) when a lottery has none")


class RoundCreate(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

    name: str = Field(min_length=1, max_length=120)
    market: Market
    proposing_side: PartyKind = Field(description="municipality, or company (adviser in the advisor market)")
    tie_break: TieBreakIn = Field(default_factory=TieBreakIn,
                                  description="how tied candidates in a ranking are ordered: id_order or lottery")


class PreferencesIn(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

    participant: str = Field(pattern=PARTY_PATTERN, description="municipality:CODE, company:ID or adviser:ID")
    capacity: int = Field(ge=1, le=100)
    ranking: list[str | list[str]] = Field(
        max_length=5000, description="the other side's participants, best first; a list entry ranks its members "
                                     "equally (a tie, broken by the round's tie_break)")


# --- matches ---------------------------------------------------------------------------------------

class MatchCreate(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

    market: Market
    municipality_code: str = Field(min_length=6, max_length=6)
    company_id: str | None = Field(default=None, max_length=40)
    adviser_id: str | None = Field(default=None, max_length=40)
    need_id: str | None = Field(default=None, max_length=40)
    round_id: str | None = Field(default=None, max_length=40)


class TransitionIn(BaseModel):
    model_config = FORBID_UNKNOWN_FIELDS

    to: MatchStatus
