"""The matching API's rounds and matches: thin routes over services/matching/rounds.py, matches.py and
explanations.py. Profiles, recommendations and eligibility are in services/matching/api.py."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from common.auth import Authenticated, OpsOnly
from common.db import SessionDep
from common.error_codes import ErrorCode
from common.models import ApiKeyRole
from common.models.matching import MatchStatus
from common.openapi import error_responses
from common.pagination import make_page
from services.matching import explanations, matches, repository, rounds
from services.matching.deps import (
    MarketFilter,
    MunicipalityKey,
    Pages,
)
from services.matching.responses import (
    MatchPage,
    MatchView,
    ParticipantView,
    PreferencesOut,
    RoundMatches,
    RoundPage,
    RoundView,
    SolvedRound,
)
from services.matching.schemas import (
    MatchCreate,
    PreferencesIn,
    RoundCreate,
    RoundStatus,
    TransitionIn,
)

router = APIRouter(prefix="/matching", tags=["matching"])


# --- rounds ----------------------------------------------------------------------------------------


@router.post(
    "/rounds",
    status_code=201,
    response_model=RoundView,
    response_model_exclude_unset=True,
    summary="Create a round (a seminar) (ops)",
)
async def create_round(data: RoundCreate, session: SessionDep, _principal: OpsOnly) -> dict[str, Any]:
    """An open round of one market, with its proposing side and tie-break; a lottery without a seed gets one
    drawn now, and shown."""
    return rounds.round_view(await rounds.create_round(session, data))


@router.get(
    "/rounds/{round_id}",
    response_model=RoundView,
    response_model_exclude_unset=True,
    summary="A round and, once solved, its result",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_round(round_id: str, session: SessionDep, _principal: Authenticated) -> dict[str, Any]:
    """The round with its tie-break and, once solved, the assignment with both ranks, the unmatched, the
    excluded and the stability certificate."""
    return rounds.round_view(await rounds.get_round(session, round_id))


@router.post(
    "/rounds/{round_id}/preferences",
    response_model=PreferencesOut,
    summary="A participant's capacity and ranking (a municipality for itself; companies and advisers by ops)",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.NOT_A_PARTY, ErrorCode.ROUND_SOLVED),
)
async def submit_preferences(
    round_id: str, data: PreferencesIn, session: SessionDep, principal: MunicipalityKey
) -> dict[str, Any]:
    """Replaces what the participant sent before, until the round is solved. A list entry of the ranking ranks
    its members equally; the round's tie-break orders them."""
    return await rounds.submit_preferences(session, principal, round_id, data)


@router.post(
    "/rounds/{round_id}/solve",
    response_model=SolvedRound,
    response_model_exclude_unset=True,
    summary="Deferred acceptance with capacities (ops)",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.ROUND_SOLVED),
)
async def solve_round(round_id: str, session: SessionDep, _principal: OpsOnly) -> dict[str, Any]:
    """Eligibility applied, ties broken, deferred acceptance from the proposing side; the result is stored with
    the round and checked by a stability certificate. A round is solved once."""
    return await rounds.solve_round(session, round_id)


@router.post(
    "/rounds/{round_id}/matches",
    status_code=201,
    response_model=RoundMatches,
    summary="Propose a match for each assigned pair of a solved round (ops); idempotent",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.ROUND_NOT_SOLVED),
)
async def propose_round_matches(round_id: str, session: SessionDep, principal: OpsOnly) -> dict[str, Any]:
    """A proposed match for every assigned pair (`items`); calling again creates none twice, and a pair that
    already has a live match keeps it (`kept`)."""
    made = await rounds.propose_round_matches(session, principal, round_id)
    return {
        "items": [matches.match_summary(match) for match in made.created],
        "next_cursor": None,
        "kept": [matches.match_summary(match) for match in made.kept],
    }


# --- matches ---------------------------------------------------------------------------------------


@router.post(
    "/matches",
    status_code=201,
    response_model=MatchView,
    summary="Propose a match (the municipality itself or ops)",
    responses=error_responses(
        ErrorCode.NOT_FOUND, ErrorCode.NOT_A_PARTY, ErrorCode.INELIGIBLE_PAIR, ErrorCode.MATCH_EXISTS
    ),
)
async def create_match(data: MatchCreate, session: SessionDep, principal: MunicipalityKey) -> dict[str, Any]:
    """A proposed match of an eligible pair, outside or from a round; a pair has one live match at a time."""
    return await matches.match_view(session, await matches.create_match(session, principal, data))


@router.get("/matches", response_model=MatchPage, summary="Matches (a municipality key sees its own)")
async def list_matches(
    session: SessionDep,
    principal: MunicipalityKey,
    page: Pages,
    municipality: Annotated[str | None, Query(max_length=6)] = None,
    status: MatchStatus | None = None,
) -> dict[str, Any]:
    """Matches by id, filtered by municipality (a municipality key always gets its own) and status."""
    if principal.role == ApiKeyRole.municipality:
        municipality = principal.municipality_code
    rows = await repository.list_matches(session, page, municipality_code=municipality, status=status)
    result = make_page(rows, page, "id")
    return {**result, "items": [matches.match_summary(match) for match in result["items"]]}


@router.get(
    "/matches/{match_id}",
    response_model=MatchView,
    summary="A match with its allowed transitions and full history",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.NOT_A_PARTY),
)
async def get_match(match_id: str, session: SessionDep, principal: MunicipalityKey) -> dict[str, Any]:
    """The match, the statuses it may move to, and every move with who made it, when, and in which request."""
    return await matches.match_view(session, await matches.get_match(session, principal, match_id))


@router.post(
    "/matches/{match_id}/transitions",
    response_model=MatchView,
    summary="Move a match (its parties or ops)",
    responses=error_responses(
        ErrorCode.NOT_FOUND, ErrorCode.NOT_A_PARTY, ErrorCode.ILLEGAL_TRANSITION, ErrorCode.CONCURRENT_TRANSITION
    ),
)
async def move_match(
    match_id: str, data: TransitionIn, session: SessionDep, principal: MunicipalityKey
) -> dict[str, Any]:
    """proposed → accepted → agreement_signed → active → completed, or declined / withdrawn; a move that is not
    allowed from the current status, or that another request made first, is a 409."""
    return await matches.match_view(session, await matches.transition(session, principal, match_id, data.to))


# --- rounds as a resource, and why a participant is unmatched ---------------------------------------


@router.get(
    "/rounds", response_model=RoundPage, summary="Rounds, newest id last; filters market and status (open or solved)"
)
async def list_rounds(
    session: SessionDep,
    _principal: Authenticated,
    page: Pages,
    market: MarketFilter = None,
    status: RoundStatus | None = None,
) -> dict[str, Any]:
    """Each round without its result (GET the round for that), by id."""
    result = make_page(await rounds.list_rounds(session, page, market=market, status=status), page, "id")
    return {**result, "items": [rounds.round_summary(round_) for round_ in result["items"]]}


@router.get(
    "/rounds/{round_id}/participants/{participant}",
    response_model=ParticipantView,
    response_model_exclude_unset=True,
    summary="A participant's part of a solved round: its partners and, with capacity left, why not the others",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.NOT_A_PARTY, ErrorCode.ROUND_NOT_SOLVED),
)
async def get_round_participant(
    round_id: str,
    session: SessionDep,
    principal: MunicipalityKey,
    participant: Annotated[str, Path(max_length=60, description="municipality:CODE, company:ID or adviser:ID")],
) -> dict[str, Any]:
    """What the participant sent, its partners with their ranks and, while it has capacity left, one reason per
    ranked candidate that it is not matched with; a lottery round also shows its ticket."""
    return await explanations.participant_view(
        session, principal, await rounds.get_round(session, round_id), participant
    )
