"""Matching tables: the fields-of-work vocabulary (分野), the three sides' profiles, rounds and matches.

Lists of field codes, prefecture codes and wished partners are small and always read whole with their row,
so they are JSON columns; the service checks field codes against the vocabulary before writing. The request and
response bodies built on the `…Base` classes are in services/matching/schemas.py.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, DateTime, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from common.timeutil import utcnow


class Market(StrEnum):
    kigyojin = "kigyojin"  # 地域活性化起業人: companies send staff to municipalities
    satellite_office = "satellite_office"  # サテライトオフィス: companies look for a place for an office
    advisor = "advisor"  # 地域力創造アドバイザー: municipalities invite experts


class AdviserType(StrEnum):
    private_expert = "private_expert"  # 民間専門家
    municipal_staff = "municipal_staff"  # 先進自治体職員


class PartyKind(StrEnum):
    """The kinds of participant; in the advisor market the municipality's counterpart is an adviser."""

    municipality = "municipality"
    company = "company"
    adviser = "adviser"


class MatchStatus(StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    agreement_signed = "agreement_signed"  # 協定締結
    active = "active"
    completed = "completed"
    declined = "declined"
    withdrawn = "withdrawn"


# A match that is not declined, withdrawn or completed holds its pair: a pair has at most one of these.
LIVE_STATUSES = (MatchStatus.proposed, MatchStatus.accepted, MatchStatus.agreement_signed, MatchStatus.active)
LIVE_CONDITION = "status IN ({})".format(", ".join(f"'{status}'" for status in LIVE_STATUSES))


class TieBreakMethod(StrEnum):
    id_order = "id_order"  # tied candidates in the order of their party names
    lottery = "lottery"  # tied candidates in the order of one lottery over all participants, drawn from a seed


def _json_list(description: str) -> Any:  # what sqlmodel's Field() returns, so it fits any annotation
    return Field(default_factory=list, sa_type=sa.JSON, description=description)


# --- vocabulary ------------------------------------------------------------------------------------


class FieldOfWorkBase(SQLModel):
    code: str = Field(primary_key=True, max_length=40, description="stable identifier, e.g. tourism")
    name_ja: str = Field(max_length=40)
    name_en: str = Field(max_length=80)
    sort_order: int = 0


class FieldOfWork(FieldOfWorkBase, table=True):
    __tablename__ = "field_of_work"


# --- municipality needs ----------------------------------------------------------------------------


class NeedBase(SQLModel):
    market: Market = Field(sa_type=String(16), index=True)
    title: str = Field(min_length=1, max_length=120)
    fields: list[str] = _json_list("field-of-work codes")
    capacity: int = Field(default=1, ge=1, le=50, description="people or offices the municipality can take")
    dispatch_months: int | None = Field(default=None, ge=1, le=120, description="起業人: wished dispatch period")
    description: str = Field(default="", max_length=4000)
    wished_partners: list[str] = _json_list("ids of companies or advisers the municipality would like")
    # Facts the reference data does not hold; they admit a 三大都市圏 municipality as a host.
    in_teiju_jiritsuken: bool = False
    high_population_decline: bool = False
    open: bool = True


# The latest change of needs, companies, advisers and matches is asked for on every recommendation
# (services/matching/registry_index.py): an index answers it without a scan.
class Need(NeedBase, table=True):
    __tablename__ = "matching_need"
    __table_args__ = (Index("ix_matching_need_market_updated_at", "market", "updated_at"),)
    id: str = Field(primary_key=True, max_length=40)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


# --- companies -------------------------------------------------------------------------------------


class CompanyBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True, description="head office")
    head_office_function_in_three_metro_area: bool = Field(
        default=False, description="本社機能 in a 三大都市圏 although the registered head office is elsewhere"
    )
    markets: list[Market] = _json_list("markets the company takes part in")
    fields: list[str] = _json_list("field-of-work codes")
    capacity: int = Field(default=1, ge=1, le=100, description="staff it can send or offices it can open")
    dispatch_months: int | None = Field(default=None, ge=1, le=120, description="起業人: offered dispatch period")
    track_record: int = Field(default=0, ge=0, le=10_000, description="past dispatches or offices")
    preferred_prefectures: list[str] = _json_list("prefecture codes it would like to work in (empty: anywhere)")
    wished_municipalities: list[str] = _json_list("municipality codes it would like")
    description: str = Field(default="", max_length=4000)


class Company(CompanyBase, table=True):
    __tablename__ = "matching_company"
    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)


# --- advisers --------------------------------------------------------------------------------------


class AdviserBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    adviser_type: AdviserType = Field(sa_type=String(16))
    municipality_code: str = Field(
        foreign_key="municipality.code", max_length=6, index=True, description="where the adviser lives"
    )
    fields: list[str] = _json_list("field-of-work codes")
    capacity: int = Field(default=1, ge=1, le=50, description="municipalities the adviser can serve in a year")
    experience_years: int = Field(default=0, ge=0, le=80)
    preferred_prefectures: list[str] = _json_list("prefecture codes the adviser would like to work in")
    wished_municipalities: list[str] = _json_list("municipality codes the adviser would like")
    description: str = Field(default="", max_length=4000)


class Adviser(AdviserBase, table=True):
    __tablename__ = "matching_adviser"
    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)


# --- rounds ----------------------------------------------------------------------------------------


class Round(SQLModel, table=True):
    __tablename__ = "matching_round"
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=120)
    market: Market = Field(sa_type=String(16))
    proposing_side: PartyKind = Field(sa_type=String(16))
    tie_break_method: TieBreakMethod = Field(
        default=TieBreakMethod.id_order,
        sa_type=String(16),
        sa_column_kwargs={"server_default": TieBreakMethod.id_order.value},
    )
    tie_break_seed: int | None = Field(default=None, sa_type=sa.BigInteger, description="the lottery's seed")
    solved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    result: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class RoundPreference(SQLModel, table=True):
    """One participant's capacity and ranking in a round; sent again before solving, it replaces the last."""

    __tablename__ = "matching_round_preference"
    __table_args__ = (UniqueConstraint("round_id", "participant"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: str = Field(foreign_key="matching_round.id", max_length=40, index=True)
    participant: str = Field(max_length=60, description="municipality:CODE, company:ID or adviser:ID")
    capacity: int
    ranking: list[str | list[str]] = Field(sa_type=sa.JSON, description="best first; a list entry is a tie")


# --- matches and their lifecycle -------------------------------------------------------------------


class Match(SQLModel, table=True):
    __tablename__ = "matching_match"
    __table_args__ = (
        CheckConstraint("(company_id IS NULL) <> (adviser_id IS NULL)", name="one_counterpart"),
        Index(
            "uq_matching_match_live_company",
            "market",
            "municipality_code",
            "company_id",
            unique=True,
            sqlite_where=text(f"company_id IS NOT NULL AND {LIVE_CONDITION}"),
            postgresql_where=text(f"company_id IS NOT NULL AND {LIVE_CONDITION}"),
        ),
        Index(
            "uq_matching_match_live_adviser",
            "market",
            "municipality_code",
            "adviser_id",
            unique=True,
            sqlite_where=text(f"adviser_id IS NOT NULL AND {LIVE_CONDITION}"),
            postgresql_where=text(f"adviser_id IS NOT NULL AND {LIVE_CONDITION}"),
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    market: Market = Field(sa_type=String(16))
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    company_id: str | None = Field(default=None, foreign_key="matching_company.id", max_length=40, index=True)
    adviser_id: str | None = Field(default=None, foreign_key="matching_adviser.id", max_length=40, index=True)
    need_id: str | None = Field(default=None, foreign_key="matching_need.id", max_length=40)
    round_id: str | None = Field(default=None, foreign_key="matching_round.id", max_length=40)
    status: MatchStatus = Field(sa_type=String(20))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)


class MatchTransition(SQLModel, table=True):
    """Every status change of a match: who, when, and the request that made it."""

    __tablename__ = "matching_match_transition"
    id: int | None = Field(default=None, primary_key=True)
    match_id: str = Field(foreign_key="matching_match.id", max_length=40, index=True)
    from_status: str | None = Field(default=None, sa_type=String(20))
    to_status: str = Field(sa_type=String(20))
    actor: str = Field(max_length=80, description="role and tenant of the caller, e.g. municipality:012092")
    actor_key_id: str | None = Field(default=None, max_length=16)
    request_id: str | None = Field(default=None, max_length=128)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
