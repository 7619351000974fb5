"""Response models of the matching API's computed views. The service modules build these views as dicts (the
profiles are table rows, described in services/matching/schemas.py); the models are what the OpenAPI document says
of them, the routes answer through them, and tests check that every key of every answer is declared. Keys that
only some answers have (the counterpart's, by market) are optional, and their routes leave out what the dict does
not set (`response_model_exclude_unset`)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from common.models.matching import Market, MatchStatus, PartyKind, TieBreakMethod
from common.pagination import Page
from common.timeutil import aware
from services.matching.schemas import RoundStatus


def _isoformat(moment: datetime) -> str:
    return aware(moment).isoformat()


# A time as the dict views have always written it (datetime.isoformat: "+00:00", not pydantic's "Z"), in UTC even
# when SQLite gave it back without its zone.
Timestamp = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# --- recommendations and eligibility -------------------------------------------------------------


class ReasonOut(BaseModel):
    code: str = Field(description="stable, e.g. host_in_three_metro_area")
    message: str


class AdviserYearsOut(BaseModel):
    """The fiscal years a municipality has used an adviser (最大３年間), as seen from `fiscal_year`."""

    municipality_code: str
    fiscal_year: int
    years_used: list[int] = Field(description="fiscal years in which one of its advisor matches was active")
    year_of_use: int = Field(description="1 + the used years before fiscal_year")
    max_years: int
    within_limit: bool


class ScoreParts(BaseModel):
    field_overlap: int
    region: int
    capacity: int
    experience: int
    stated_preferences: int


class Candidate(BaseModel):
    candidate: str = Field(description="municipality:CODE, company:ID or adviser:ID")
    name: str
    municipality_code: str = Field(description="the candidate's own code, or its head office or home")
    score: int = Field(description="the sum of score_parts")
    score_parts: ScoreParts
    eligible: bool
    shared_fields: list[str]


class ExcludedCandidate(BaseModel):
    candidate: str
    name: str
    eligible: bool
    reasons: list[ReasonOut]


class Recommendations(Page[Candidate]):
    market: Market
    subject: str = Field(alias="for", description="the party the candidates are for")
    fiscal_year: int
    adviser_years: AdviserYearsOut | None = Field(default=None, description="a municipality in the advisor market")
    excluded: list[ExcludedCandidate] | None = Field(default=None, description="with explain=true, by candidate")


class Eligibility(BaseModel):
    market: Market
    municipality: str
    partner: str
    fiscal_year: int
    eligible: bool
    reasons: list[ReasonOut]
    adviser_years: AdviserYearsOut | None = Field(default=None, description="in the advisor market")


# --- rounds ----------------------------------------------------------------------------------------


class TieBreakOut(BaseModel):
    method: TieBreakMethod
    seed: int | None
    rule: str


class WithCounterpart(BaseModel):
    """A pair's municipality and, by market, its company or adviser (ids, not party names)."""

    municipality: str | None = None
    company: str | None = None
    adviser: str | None = None


class Assignment(WithCounterpart):
    municipality_rank: int | None = Field(default=None, description="the rank the municipality gave its partner")
    company_rank: int | None = None
    adviser_rank: int | None = None


class ExcludedParticipant(BaseModel):
    participant: str
    reasons: list[ReasonOut]


class ExcludedPair(WithCounterpart):
    reasons: list[ReasonOut]


class CapacityUse(BaseModel):
    participants: int
    capacity: int
    used: int
    full: int
    over_capacity: list[str]


class Certificate(BaseModel):
    """The proof of stability, checked from the rankings and the assignment alone."""

    mutually_acceptable_pairs_checked: int
    blocking_pairs: list[WithCounterpart] = Field(description="keyed by side (municipality, company or adviser)")
    stable: bool
    capacities: dict[str, CapacityUse] = Field(description="per side: the proposing one and the receiving one")
    optimality: str


class RoundResult(BaseModel):
    round_id: str
    market: Market
    proposing_side: PartyKind
    tie_break: TieBreakOut
    assignment: list[Assignment]
    unmatched: list[str] = Field(description="participants (party names) left without a partner")
    excluded: list[ExcludedParticipant]
    excluded_pairs: list[ExcludedPair]
    certificate: Certificate


class SolvedRound(RoundResult):
    solved_at: Timestamp


class RoundSummary(BaseModel):
    id: str
    name: str
    market: Market
    proposing_side: PartyKind
    status: RoundStatus
    tie_break: TieBreakOut
    created_at: Timestamp
    solved_at: Timestamp | None


class RoundView(RoundSummary):
    result: RoundResult | None = Field(description="once solved")


class RoundPage(Page[RoundSummary]):
    """Rounds, by id."""


class PreferencesOut(BaseModel):
    round_id: str
    participant: str
    capacity: int
    ranking: list[str | list[str]]


class PartnerRank(BaseModel):
    partner: str
    rank: int | None


class WhyNot(BaseModel):
    candidate: str
    rank: int | None = Field(description="the rank the participant gave the candidate")
    code: str = Field(description="e.g. not_ranked_by_candidate or candidate_full_with_preferred")
    message: str
    partners: list[str] | None = Field(default=None, description="a full candidate's partners")
    tied: list[str] | None = Field(default=None, description="those of them it ranks equally with the participant")


class ParticipantView(BaseModel):
    round_id: str
    participant: str
    capacity: int
    ranking: list[str | list[str]]
    partners: list[PartnerRank]
    free_capacity: int
    explanation: list[WhyNot] | None = Field(description="with capacity left: one reason per ranked candidate")
    lottery_ticket: str | None = Field(default=None, description="a lottery round: the participant's ticket")


# --- matches ---------------------------------------------------------------------------------------


class MatchSummary(BaseModel):
    id: str
    market: Market
    municipality_code: str
    company_id: str | None
    adviser_id: str | None
    need_id: str | None
    round_id: str | None
    status: MatchStatus
    created_at: Timestamp
    updated_at: Timestamp


class TransitionRecord(BaseModel):
    from_status: MatchStatus | None = Field(alias="from", description="none for the first entry")
    to: MatchStatus
    actor: str
    actor_key_id: str | None
    request_id: str | None
    at: Timestamp


class MatchView(MatchSummary):
    allowed_transitions: list[MatchStatus]
    history: list[TransitionRecord]


class MatchPage(Page[MatchSummary]):
    """Matches, by id."""


class RoundMatches(Page[MatchSummary]):
    """The matches this call created (`items`, one page) and those the pairs already had (`kept`)."""

    kept: list[MatchSummary]
