"""The matching API: thin routes that parse, authorise, call the service modules and shape the answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from common.adviser_years import adviser_years
from common.auth import Authenticated, OpsOnly
from common.db import SessionDep
from common.error_codes import ErrorCode
from common.models import Adviser, Company, Need
from common.models.matching import Market
from common.openapi import error_responses
from common.pagination import MAX_LIMIT, Page, make_page
from common.timeutil import current_fiscal_year
from services.matching import parties, profiles, repository
from services.matching.deps import (
    Code,
    FieldFilter,
    FiscalYear,
    MarketFilter,
    MunicipalityKey,
    Pages,
    PrefectureFilter,
)
from services.matching.recommendations import explain_pair, offset_of, recommend
from services.matching.responses import (
    AdviserYearsOut,
    Eligibility,
    Recommendations,
)
from services.matching.schemas import (
    AdviserCreate,
    AdviserPublic,
    AdviserUpdate,
    CompanyCreate,
    CompanyPublic,
    CompanyUpdate,
    FieldOfWorkPublic,
    NeedCreate,
    NeedPublic,
    NeedUpdate,
)

router = APIRouter(prefix="/matching", tags=["matching"])


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
    """The needs one municipality posted, open or closed, by id; 422 naming `code` for a code that is no
    municipality of the reference data (as recommendations answer), rather than an empty page."""
    await parties.municipality(session, code, "code")
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
