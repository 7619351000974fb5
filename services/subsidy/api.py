"""Thin routes: parse, call the service modules, answer. The session dependency is the one place that commits."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from common.auth import Authenticated
from common.codes import local_government_code_problem
from common.db import ReadSessionDep, SessionDep, read_row_or_404
from common.error_codes import ErrorCode
from common.errors import Conflict, Unprocessable
from common.models import Municipality
from common.models.municipality import MunicipalityPublic
from common.models.subsidy import SubsidyCalculationPublic
from common.openapi import error_responses
from common.pagination import PageParams, encode_cursor, make_page, page_params
from services.subsidy import catalogue, compare, finder, impact, repository, saved, service
from services.subsidy.adviser_use import ADVISOR, batch_with_year_of_use, with_year_of_use
from services.subsidy.reference import ReferenceData
from services.subsidy.rulebook import Rulebook
from services.subsidy.schemas import (
    BatchRequest,
    BatchResult,
    CalculationPage,
    CalculationRequest,
    CalculationResult,
    CompareRequest,
    Comparison,
    FinderRequest,
    FinderResult,
    ImpactJob,
    ImpactRequest,
    MunicipalityPage,
    ProgramCalculationRequest,
    ProgramCatalogue,
    ProgramDetail,
    ProgramTimeline,
)

router = APIRouter(prefix="/subsidy", tags=["subsidy"])


async def get_rulebook(request: Request) -> Rulebook:
    rulebook: Rulebook = request.app.state.rulebook
    return rulebook


async def get_reference(request: Request) -> ReferenceData:
    """The municipality reference data in memory (services/subsidy/reference.py)."""
    reference: ReferenceData = await request.app.state.reference.current(request.app.state.db)
    return reference


RulebookDep = Annotated[Rulebook, Depends(get_rulebook)]
ReferenceDep = Annotated[ReferenceData, Depends(get_reference)]
ProgramId = Annotated[str, Path(max_length=60, description="program id, e.g. local10000")]
MunicipalityType = Literal["prefecture", "designated_city", "city", "special_ward", "town", "village"]
MunicipalityCode = Annotated[str, Query(pattern=r"^\d{6}$", description="全国地方公共団体コード, 6 digits")]
FiscalYear = Annotated[int, Query(ge=1900, le=2200, description="Western year the fiscal year starts in")]
CSV = {"text/csv": {"schema": {"type": "string"}, "example": "code,name,baseline_eligible,baseline_amount,...\n"}}


@router.get(
    "/municipalities/{code}",
    response_model=MunicipalityPublic,
    summary="Reference attributes of a municipality (財政力指数, 過疎, 三大都市圏, population)",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_municipality(
    code: Annotated[str, Path(description="全国地方公共団体コード, 6 digits")],
    session: SessionDep,
) -> MunicipalityPublic:
    """The attributes the calculations read from the reference data, by 全国地方公共団体コード. Open to anyone:
    it is published data."""
    if problem := local_government_code_problem(code):
        raise Unprocessable(problem, field="code")
    municipality = await read_row_or_404(
        session, Municipality, code, field="code", noun="municipality in the reference data with code"
    )
    return MunicipalityPublic.model_validate(municipality)


@router.get(
    "/municipalities",
    response_model=MunicipalityPage,
    summary="Municipalities of the reference data, by code, with filters",
)
async def list_municipalities(
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            pattern=r"\S",
            description="part of the name (kanji, kana or English, any case) or the first digits of the code",
            examples=["夕張"],
        ),
    ] = None,
    prefecture: Annotated[str | None, Query(pattern=r"^\d{2}$", description="prefecture code, e.g. 01")] = None,
    kaso: Annotated[bool | None, Query(description="only 過疎関係市町村 (true) or only the others (false)")] = None,
    three_metro_area: Annotated[bool | None, Query(description="in 三大都市圏 or not")] = None,
    type: Annotated[MunicipalityType | None, Query()] = None,
) -> dict[str, Any]:
    """Every municipality and prefecture, in code order, filtered by name or code (`q`), prefecture, 過疎,
    三大都市圏 or type. Open to anyone: it is published data."""
    filters = repository.MunicipalityFilters(
        name_or_code=q.strip() if q else None,
        pref_code=prefecture,
        kaso=kaso,
        metro=three_metro_area,
        municipality_type=type,
    )
    rows = await repository.list_municipalities(session, page, filters)
    page_result = make_page(rows, page, "code")
    page_result["items"] = [MunicipalityPublic.model_validate(r, from_attributes=True) for r in page_result["items"]]
    return page_result


@router.get(
    "/programs",
    response_model=ProgramCatalogue,
    summary="Catalogue of programs: names, citation, fiscal years with parameters",
)
async def list_programs(rulebook: RulebookDep, page: Annotated[PageParams, Depends(page_params)]) -> dict[str, Any]:
    """The programs the rules cover, by id, with the version of the rules answering. Open to anyone."""
    ids = sorted(program_id for program_id in rulebook.programs if page.after is None or program_id > page.after)
    shown = ids[: page.limit]
    return {
        "items": [catalogue.program_summary(rulebook.programs[program_id]) for program_id in shown],
        "next_cursor": encode_cursor(shown[-1]) if len(ids) > page.limit else None,
        "rules_version": rulebook.version,
    }


@router.get(
    "/programs/{program}",
    response_model=ProgramDetail,
    response_model_exclude_unset=True,
    summary="A program's dated parameters, with citations and interpretation notes",
    responses=error_responses(ErrorCode.UNKNOWN_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR),
)
async def get_program(
    program: ProgramId, rulebook: RulebookDep, fiscal_year: Annotated[int | None, Query(ge=1900, le=2200)] = None
) -> dict[str, Any]:
    """Every parameter with all its dated values; with `fiscal_year`, the values of that year and their hash,
    and the JSON Schema of the program's inputs."""
    return catalogue.program_detail(rulebook, service.program_of(rulebook, program), fiscal_year)


@router.post(
    "/programs/{program}/calculate",
    response_model=CalculationResult,
    summary="Calculate one program: amount, breakdown, reasons, trace",
    responses=error_responses(
        ErrorCode.UNKNOWN_PROGRAM,
        ErrorCode.UNKNOWN_FISCAL_YEAR,
        ErrorCode.INVALID_OVERRIDE,
        ErrorCode.ATTRIBUTE_MISSING,
    ),
)
async def calculate(
    program: ProgramId,
    body: CalculationRequest,
    rulebook: RulebookDep,
    reference: ReferenceDep,
    session: ReadSessionDep,
) -> JSONResponse:
    """The amount in yen, floor-rounded as the rules say, with each step's formula, parameters and citation.
    `overrides` computes a what-if. The advisor program's `year_of_use`, when left out for a named municipality,
    comes from its recorded advisor matches. Open to anyone (rate-limited); nothing is stored."""
    inputs = await with_year_of_use(session, rulebook, program, body.fiscal_year, body.municipality_code, body.inputs)
    return JSONResponse(
        service.calculate(
            rulebook, reference, program, body.fiscal_year, body.municipality_code, inputs, body.overrides
        )
    )


@router.post(
    "/calculate/batch",
    response_model=BatchResult,
    summary="Many calculations; results in order, each item's error in its place",
)
async def calculate_batch(
    body: BatchRequest, rulebook: RulebookDep, reference: ReferenceDep, session: ReadSessionDep
) -> JSONResponse:
    """Each item is a calculation body plus `program`; an item that fails has its status and error in its place
    and does not fail the others. `year_of_use` is filled as for one calculation."""
    items = await batch_with_year_of_use(session, rulebook, body.items)
    results = service.calculate_batch(rulebook, reference, items, include_trace=body.include_trace)
    return JSONResponse({"results": results, "rules_version": rulebook.version})


@router.post(
    "/calculations",
    status_code=201,
    response_model=SubsidyCalculationPublic,
    summary="Save a calculation with its result, rules version and parameter hash",
    responses=error_responses(
        ErrorCode.NOT_FOUND,
        ErrorCode.FORBIDDEN,
        ErrorCode.INVALID_PROGRAM,
        ErrorCode.UNKNOWN_FISCAL_YEAR,
        ErrorCode.INVALID_OVERRIDE,
        ErrorCode.ATTRIBUTE_MISSING,
    ),
)
async def save_calculation(
    body: ProgramCalculationRequest,
    session: SessionDep,
    rulebook: RulebookDep,
    reference: ReferenceDep,
    principal: Authenticated,
) -> SubsidyCalculationPublic:
    """Calculates and stores the result unchanged, so that it can be read again after the rules move on. A
    municipality key saves only for its own municipality. A `year_of_use` filled from the record is saved with
    the inputs."""
    inputs = await with_year_of_use(
        session, rulebook, body.program, body.fiscal_year, body.municipality_code, body.inputs
    )
    body = body.model_copy(update={"inputs": inputs})
    row = await saved.save_calculation(session, rulebook, reference, principal, body)
    return SubsidyCalculationPublic.model_validate(row, from_attributes=True)


@router.get(
    "/calculations", response_model=CalculationPage, summary="Saved calculations this key may read, by id, with filters"
)
async def list_calculations(
    session: SessionDep,
    principal: Authenticated,
    page: Annotated[PageParams, Depends(page_params)],
    municipality_code: MunicipalityCode | None = None,
    program: Annotated[str | None, Query(max_length=60, description="program id, e.g. local10000")] = None,
    fiscal_year: FiscalYear | None = None,
) -> dict[str, Any]:
    """As for one saved calculation: ops reads every one, a municipality key those of its municipality, any
    other key those it saved itself."""
    filters = repository.CalculationFilters(
        municipality_code=municipality_code, program=program, fiscal_year=fiscal_year
    )
    rows = await saved.list_calculations(session, principal, page, filters)
    page_result = make_page(rows, page, "id")
    page_result["items"] = [
        SubsidyCalculationPublic.model_validate(r, from_attributes=True) for r in page_result["items"]
    ]
    return page_result


@router.get(
    "/calculations/{calculation_id}",
    response_model=SubsidyCalculationPublic,
    summary="A saved calculation, unchanged even after the rules move on",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_calculation(
    calculation_id: Annotated[str, Path(max_length=40)], session: SessionDep, principal: Authenticated
) -> SubsidyCalculationPublic:
    """The calculation as it was saved, with the rules version and parameter hash it was made with. Another
    tenant's calculation is a 404: whether it exists is not theirs to know."""
    row = await saved.get_calculation(session, principal, calculation_id)
    return SubsidyCalculationPublic.model_validate(row, from_attributes=True)


@router.post(
    "/finder",
    response_model=FinderResult,
    summary="Which programs a municipality can use, for how much, and what is still needed",
    responses=error_responses(ErrorCode.UNKNOWN_FISCAL_YEAR),
)
async def find_programs(
    body: FinderRequest, rulebook: RulebookDep, reference: ReferenceDep, session: ReadSessionDep
) -> JSONResponse:
    """Every program, from inputs that may be partial or empty: `eligible` with the amount, `ineligible` with
    cited reasons, or `needs_inputs` with the inputs still missing and, when known, the most it can come to.
    The advisor program's `year_of_use` is known from the municipality's recorded advisor matches."""
    municipality = reference.find(body.municipality_code)
    assert municipality is not None  # the request model requires a code
    inputs = await with_year_of_use(session, rulebook, ADVISOR, body.fiscal_year, body.municipality_code, body.inputs)
    return JSONResponse(finder.find(rulebook, body.fiscal_year, municipality, inputs))


@router.get(
    "/programs/{program}/timeline",
    response_model=ProgramTimeline,
    response_model_exclude_unset=True,
    summary="Every parameter's value in each fiscal year the rules cover, where it changed, with citations",
    responses=error_responses(ErrorCode.UNKNOWN_PROGRAM),
)
async def get_program_timeline(program: ProgramId, rulebook: RulebookDep) -> dict[str, Any]:
    """Per parameter, its value in each fiscal year, whether it changed from the year before (and from what),
    and the years it changed in."""
    return catalogue.program_timeline(rulebook, service.program_of(rulebook, program))


@router.post(
    "/programs/{program}/compare",
    response_model=Comparison,
    summary="One set of inputs under a baseline and a reform: both results, the difference, changed steps",
    responses=error_responses(
        ErrorCode.UNKNOWN_PROGRAM,
        ErrorCode.UNKNOWN_FISCAL_YEAR,
        ErrorCode.INVALID_OVERRIDE,
        ErrorCode.ATTRIBUTE_MISSING,
    ),
)
async def compare_program(
    program: ProgramId, body: CompareRequest, rulebook: RulebookDep, reference: ReferenceDep
) -> JSONResponse:
    """Two fiscal years, or a year and a what-if: both full results, reform − baseline in yen per breakdown
    line, and the trace steps whose parameters or results differ."""
    return JSONResponse(compare.compare(rulebook, reference, program, body))


@router.post(
    "/impact",
    status_code=202,
    response_model=ImpactJob,
    summary="Start an impact run of a program over every municipality",
    responses={
        202: {"headers": {"Location": {"description": "the run's address", "schema": {"type": "string"}}}},
        **error_responses(ErrorCode.INVALID_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR, ErrorCode.INVALID_OVERRIDE),
    },
)
async def start_impact(
    body: ImpactRequest,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    rulebook: RulebookDep,
    reference: ReferenceDep,
    principal: Authenticated,
) -> JSONResponse:
    """Queues the run and answers at once; poll `Location` for its progress, then its totals and rows. What does
    not depend on the municipality (program, year, overrides, inputs) is checked before anything is queued."""
    job = await impact.create_job(session, rulebook, reference, principal, body)
    background.add_task(impact.run_in_app, request.app, job.id)  # after the commit, which precedes the response
    location = f"/subsidy/impact/{job.id}"
    view = ImpactJob.model_validate(impact.job_view(job)).model_dump(mode="json", exclude_unset=True)
    return JSONResponse(view, status_code=202, headers={"Location": location})


@router.get(
    "/impact/{job_id}",
    response_model=ImpactJob,
    response_model_exclude_unset=True,
    summary="An impact run: progress, then per-municipality results and totals (CSV with Accept: text/csv)",
    responses={200: {"content": CSV}, **error_responses(ErrorCode.NOT_FOUND, ErrorCode.IMPACT_JOB_NOT_DONE)},
)
async def get_impact(
    job_id: Annotated[str, Path(max_length=40)], request: Request, session: SessionDep, principal: Authenticated
) -> Response | dict[str, Any]:
    """The run's status and progress, and once done its totals and one row per municipality; with
    `Accept: text/csv` the rows as CSV (409 until the run is done). Only its creator and ops see it."""
    job = await impact.get_job(session, principal, job_id)
    if "text/csv" not in request.headers.get("accept", ""):
        return impact.job_view(job)
    if job.status != "done":
        raise Conflict(
            f"impact job {job.id} is {job.status}; its CSV exists once it is done",
            code=ErrorCode.IMPACT_JOB_NOT_DONE,
            field="job_id",
        )
    return Response(
        impact.job_csv(job),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{job.id}.csv"'},
    )
