"""The matching API: thin routes that parse, authorise, call the service modules and shape the answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from common.adviser_years import adviser_years
from common.auth import Authenticated, OpsOnly, Principal, require_roles
from common.db import SessionDep
from common.error_codes import ErrorCode
from common.models import Adviser, ApiKeyRole, Company, Need
from common.models.matching import Market, MatchStatus
from common.openapi import error_responses
from common.pagination import MAX_LIMIT, Page, PageParams, make_page, page_params
from common.timeutil import current_fiscal_year
from services.matching import explanations, matches, parties, profiles, repository, rounds
from services.matching.recommendations import explain_pair, offset_of, recommend
from services.matching.responses import (
    AdviserYearsOut,
    Eligibility,
    MatchPage,
    MatchView,
    ParticipantView,
    PreferencesOut,
    Recommendations,
    RoundMatches,
    RoundPage,
    RoundView,
    SolvedRound,
)
from services.matching.schemas import (
    AdviserCreate,
    AdviserPublic,
    AdviserUpdate,
    CompanyCreate,
    CompanyPublic,
    CompanyUpdate,
    FieldOfWorkPublic,
    MatchCreate,
    NeedCreate,
    NeedPublic,
    NeedUpdate,
    PreferencesIn,
    RoundCreate,
    RoundStatus,
    TransitionIn,
)

router = APIRouter(prefix="/matching", tags=["matching"])

MunicipalityKey = Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality))]
Code = Annotated[str, Path(description="全国地方公共団体コード, 6 digits")]
Pages = Annotated[PageParams, Depends(page_params)]
MarketFilter = Annotated[Market | None, Query(description="kigyojin, satellite_office or advisor")]
PrefectureFilter = Annotated[str | None, Query(pattern=r"^\d{2}$", description="prefecture code, e.g. 01")]
FieldFilter = Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="a field-of-work code")]
FiscalYear = Annotated[int | None, Query(ge=2022, le=2100, description="年度; default: the current one")]


@router.get(
    "/fields",
    response_model=Page[FieldOfWorkPublic],
    summary="The shared vocabulary of fields of work (分野) that profiles and needs are tagged with",
)
async def list_fields(session: SessionDep, _principal: Authenticated) -> dict[str, Any]:
    """Every field of work, in display order, on one page: the vocabulary is small (tens of rows)."""
    return {"items": await repository.list_fields(session), "next_cursor": None}


# --- municipality needs ----------------------------------------------------------------------------


@router.get("/needs", response_model=Page[NeedPublic], summary="Needs of all municipalities, with filters")
async def list_needs(
    session: SessionDep,
    _principal: Authenticated,
    page: Pages,
    market: MarketFilter = None,
    prefecture: PrefectureFilter = None,
    field: FieldFilter = None,
) -> dict[str, Any]:
    """Every municipality's needs, by id, filtered by market, prefecture or field of work."""
    rows = await repository.list_needs(session, page, market=market, field=field, prefecture=prefecture)
    return make_page(rows, page, "id")


@router.get("/municipalities/{code}/needs", response_model=Page[NeedPublic], summary="A municipality's needs")
async def list_municipality_needs(
    code: Code,
    session: SessionDep,
    _principal: Authenticated,
    page: Pages,
    market: MarketFilter = None,
    field: FieldFilter = None,
) -> dict[str, Any]:
    """The needs one municipality posted, open or closed, by id."""
    rows = await repository.list_needs(
        session, page, municipality_code=code, market=market, field=field, prefecture=None
    )
    return make_page(rows, page, "id")


@router.post(
    "/municipalities/{code}/needs",
    response_model=NeedPublic,
    status_code=201,
    summary="Post a need (the municipality itself or ops)",
    responses=error_responses(ErrorCode.NOT_A_PARTY),
)
async def create_need(code: Code, data: NeedCreate, session: SessionDep, principal: MunicipalityKey) -> Need:
    """What the municipality is looking for in one market: fields of work, capacity, wished partners. A
    municipality key posts for its own municipality only."""
    return await profiles.create_need(session, principal, code, data)


@router.get(
    "/municipalities/{code}/needs/{need_id}",
    response_model=NeedPublic,
    summary="One need of a municipality",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_need(code: Code, need_id: str, session: SessionDep, _principal: Authenticated) -> Need:
    """The need, when it belongs to the municipality of the path."""
    return await profiles.get_need(session, code, need_id)


@router.patch(
    "/municipalities/{code}/needs/{need_id}",
    response_model=NeedPublic,
    summary="Change a need (the municipality itself or ops)",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.NOT_A_PARTY),
)
async def update_need(
    code: Code, need_id: str, data: NeedUpdate, session: SessionDep, principal: MunicipalityKey
) -> Need:
    """Only the fields sent change; `open: false` takes the need out of recommendations and rounds."""
    return await profiles.update_need(session, principal, code, need_id, data)


# --- companies and advisers (the registry is kept by ops) ------------------------------------------


@router.post("/companies", response_model=CompanyPublic, status_code=201, summary="Register a company (ops)")
async def create_company(data: CompanyCreate, session: SessionDep, _principal: OpsOnly) -> Company:
    """A company of the registry, with its head office, markets, fields of work and capacity."""
    return await profiles.create_company(session, data)


@router.get("/companies", response_model=Page[CompanyPublic], summary="Companies, with filters")
async def list_companies(
    session: SessionDep,
    _principal: Authenticated,
    page: Pages,
    market: MarketFilter = None,
    prefecture: PrefectureFilter = None,
    field: FieldFilter = None,
) -> dict[str, Any]:
    """Companies of the registry, by id, filtered by market, head-office prefecture or field of work."""
    rows = await repository.list_companies(session, page, market=market, field=field, prefecture=prefecture)
    return make_page(rows, page, "id")


@router.get(
    "/companies/{company_id}",
    response_model=CompanyPublic,
    summary="One company of the registry",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_company(company_id: str, session: SessionDep, _principal: Authenticated) -> Company:
    """The company's profile as registered."""
    return await profiles.get_company(session, company_id)


@router.patch(
    "/companies/{company_id}",
    response_model=CompanyPublic,
    summary="Change a company (ops)",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def update_company(company_id: str, data: CompanyUpdate, session: SessionDep, _principal: OpsOnly) -> Company:
    """Only the fields sent change."""
    return await profiles.update_company(session, company_id, data)


@router.post("/advisers", response_model=AdviserPublic, status_code=201, summary="Register an adviser (ops)")
async def create_adviser(data: AdviserCreate, session: SessionDep, _principal: OpsOnly) -> Adviser:
    """An adviser (地域力創造アドバイザー) of the registry: type, home municipality, fields of work, capacity."""
    return await profiles.create_adviser(session, data)


@router.get("/advisers", response_model=Page[AdviserPublic], summary="Advisers, with filters")
async def list_advisers(
    session: SessionDep,
    _principal: Authenticated,
    page: Pages,
    prefecture: PrefectureFilter = None,
    field: FieldFilter = None,
) -> dict[str, Any]:
    """Advisers of the registry, by id, filtered by home prefecture or field of work."""
    rows = await repository.list_advisers(session, page, field=field, prefecture=prefecture)
    return make_page(rows, page, "id")


@router.get(
    "/advisers/{adviser_id}",
    response_model=AdviserPublic,
    summary="One adviser of the registry",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_adviser(adviser_id: str, session: SessionDep, _principal: Authenticated) -> Adviser:
    """The adviser's profile as registered."""
    return await profiles.get_adviser(session, adviser_id)


@router.patch(
    "/advisers/{adviser_id}",
    response_model=AdviserPublic,
    summary="Change an adviser (ops)",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def update_adviser(adviser_id: str, data: AdviserUpdate, session: SessionDep, _principal: OpsOnly) -> Adviser:
    """Only the fields sent change."""
    return await profiles.update_adviser(session, adviser_id, data)


# --- recommendations and eligibility ---------------------------------------------------------------


@router.get(
    "/recommendations",
    response_model=Recommendations,
    response_model_exclude_unset=True,
    summary="Ranked eligible candidates with score and score_parts",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def recommend_candidates(
    session: SessionDep,
    _principal: Authenticated,
    market: Market,
    subject: Annotated[
        str, Query(alias="for", max_length=60, description="municipality:CODE, company:ID or adviser:ID")
    ],
    fiscal_year: FiscalYear = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    explain: Annotated[bool, Query(description="also list the excluded candidates with the reasons")] = False,
) -> dict[str, Any]:
    """The eligible candidates for a municipality, company or adviser in one market, best score first (ties by
    party name), each with its score_parts and shared fields; a municipality in the advisor market also gets its
    adviser_years. The cursor is an offset into the ranking, which is computed per query."""
    return await recommend(
        session,
        market,
        subject,
        fiscal_year=fiscal_year or current_fiscal_year(),
        limit=limit,
        offset=offset_of(cursor),
        explain=explain,
    )


@router.get(
    "/eligibility",
    response_model=Eligibility,
    response_model_exclude_unset=True,
    summary="Whether a municipality and a company or adviser may be paired, and why not",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def check_eligibility(
    session: SessionDep,
    _principal: Authenticated,
    market: Market,
    municipality: Annotated[str, Query(max_length=6)],
    partner: Annotated[str, Query(max_length=60, description="company:ID or adviser:ID")],
    fiscal_year: FiscalYear = None,
) -> dict[str, Any]:
    """The rules of the market applied to one pair in a fiscal year: eligible, or every reason it is not."""
    return await explain_pair(session, market, municipality, partner, fiscal_year or current_fiscal_year())


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


@router.get(
    "/municipalities/{code}/adviser-years",
    response_model=AdviserYearsOut,
    summary="The fiscal years a municipality has used an adviser (最大３年間), from its recorded matches",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_adviser_years(
    code: Code, session: SessionDep, _principal: Authenticated, fiscal_year: FiscalYear = None
) -> dict[str, Any]:
    """The years come from the municipality's advisor matches, from the fiscal year each became active through
    the one it was completed in; `year_of_use` is what the subsidy calculator's advisor program reads."""
    await parties.municipality(session, code, "code")
    return (await adviser_years(session, code, fiscal_year or current_fiscal_year())).as_json()
