"""Thin routes: parse, call the service modules, answer. The session dependency is the one place that commits."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from common.auth import Authenticated
from common.codes import local_government_code_problem
from common.db import SessionDep, read_row_or_404
from common.error_codes import ErrorCode
from common.errors import Conflict, Unprocessable
from common.models import Municipality
from common.models.municipality import MunicipalityPublic
from common.models.subsidy import SubsidyCalculationPublic
from common.openapi import error_responses
from common.pagination import Page, PageParams, encode_cursor, make_page, page_params
from services.subsidy import catalogue, compare, finder, impact, repository, saved, service
from services.subsidy.reference import ReferenceData
from services.subsidy.rulebook import Rulebook
from services.subsidy.schemas import (
    BatchRequest,
    BatchResult,
    CalculationRequest,
    CalculationResult,
    CompareRequest,
    FinderRequest,
    ImpactRequest,
    ProgramCalculationRequest,
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


@router.get("/municipalities/{code}", response_model=MunicipalityPublic,
            summary="Reference attributes of a municipality (財政力指数, 過疎, 三大都市圏, population)",
            responses=error_responses(ErrorCode.NOT_FOUND))
async def get_municipality(
    code: Annotated[str, Path(description="全国地方公共団体コード, 6 digits")],
    session: SessionDep, _principal: Authenticated,
) -> MunicipalityPublic:
    if problem := local_government_code_problem(code):
        raise Unprocessable(problem, field="code")
    municipality = await read_row_or_404(session, Municipality, code, field="code",
                                         noun="municipality in the reference data with code")
    return MunicipalityPublic.model_validate(municipality)


@router.get("/municipalities", response_model=Page[MunicipalityPublic],
            summary="Municipalities of the reference data, by code, with filters")
async def list_municipalities(
    session: SessionDep, _principal: Authenticated,
    page: Annotated[PageParams, Depends(page_params)],
    prefecture: Annotated[str | None, Query(pattern=r"^\d{2}$", description="prefecture code, e.g. 01")] = None,
    kaso: Annotated[bool | None, Query(description="only 過疎関係市町村 (true) or only the others (false)")] = None,
    three_metro_area: Annotated[bool | None, Query(description="in 三大都市圏 or not")] = None,
    type: Annotated[MunicipalityType | None, Query()] = None,
) -> dict[str, Any]:
    rows = await repository.list_municipalities(session, page, pref_code=prefecture, kaso=kaso,
                                                metro=three_metro_area, municipality_type=type)
    page_result = make_page(rows, page, "code")
    page_result["items"] = [MunicipalityPublic.model_validate(r, from_attributes=True) for r in page_result["items"]]
    return page_result


@router.get("/programs", summary="Catalogue of programs: names, citation, fiscal years with parameters")
async def list_programs(rulebook: RulebookDep, page: Annotated[PageParams, Depends(page_params)]) -> dict[str, Any]:
    ids = sorted(program_id for program_id in rulebook.programs if page.after is None or program_id > page.after)
    shown = ids[: page.limit]
    return {"items": [catalogue.program_summary(rulebook.programs[program_id]) for program_id in shown],
            "next_cursor": encode_cursor(shown[-1]) if len(ids) > page.limit else None,
            "rules_version": rulebook.version}


@router.get("/programs/{program}", summary="A program's dated parameters, with citations and interpretation notes",
            responses=error_responses(ErrorCode.UNKNOWN_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR))
async def get_program(program: ProgramId, rulebook: RulebookDep,
                      fiscal_year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> dict[str, Any]:
    return catalogue.program_detail(rulebook, service.program_of(rulebook, program), fiscal_year)


@router.post("/programs/{program}/calculate", summary="Calculate one program: amount, breakdown, reasons, trace",
             responses={200: {"model": CalculationResult},
                        **error_responses(ErrorCode.UNKNOWN_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR,
                                          ErrorCode.INVALID_OVERRIDE, ErrorCode.ATTRIBUTE_MISSING)})
async def calculate(program: ProgramId, body: CalculationRequest, rulebook: RulebookDep,
                    reference: ReferenceDep) -> JSONResponse:
    return JSONResponse(service.calculate(rulebook, reference, program, body.fiscal_year, body.municipality_code,
                                          body.inputs, body.overrides))


@router.post("/calculate/batch", summary="Many calculations; results in order, each item's error in its place",
             responses={200: {"model": BatchResult}})
async def calculate_batch(body: BatchRequest, rulebook: RulebookDep, reference: ReferenceDep) -> JSONResponse:
    results = service.calculate_batch(rulebook, reference, body.items, include_trace=body.include_trace)
    return JSONResponse({"results": results, "rules_version": rulebook.version})


@router.post("/calculations", status_code=201, response_model=SubsidyCalculationPublic,
             summary="Save a calculation with its result, rules version and parameter hash",
             responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.INVALID_PROGRAM,
                                       ErrorCode.UNKNOWN_FISCAL_YEAR, ErrorCode.INVALID_OVERRIDE,
                                       ErrorCode.ATTRIBUTE_MISSING))
async def save_calculation(body: ProgramCalculationRequest, session: SessionDep, rulebook: RulebookDep,
                           reference: ReferenceDep, principal: Authenticated) -> SubsidyCalculationPublic:
    row = await saved.save_calculation(session, rulebook, reference, principal, body)
    return SubsidyCalculationPublic.model_validate(row, from_attributes=True)


@router.get("/calculations/{calculation_id}", response_model=SubsidyCalculationPublic,
            summary="A saved calculation, unchanged even after the rules move on",
            responses=error_responses(ErrorCode.NOT_FOUND))
async def get_calculation(calculation_id: Annotated[str, Path(max_length=40)], session: SessionDep,
                          principal: Authenticated) -> SubsidyCalculationPublic:
    row = await saved.get_calculation(session, principal, calculation_id)
    return SubsidyCalculationPublic.model_validate(row, from_attributes=True)


@router.post("/finder", summary="Which programs a municipality can use, for how much, and what is still needed",
             responses=error_responses(ErrorCode.UNKNOWN_FISCAL_YEAR))
async def find_programs(body: FinderRequest, rulebook: RulebookDep, reference: ReferenceDep) -> JSONResponse:
    municipality = reference.find(body.municipality_code)
    assert municipality is not None  # the request model requires a code
    return JSONResponse(finder.find(rulebook, body.fiscal_year, municipality, body.inputs))


@router.get("/programs/{program}/timeline",
            summary="Every parameter's value in each fiscal year the rules cover, where it changed, with citations",
            responses=error_responses(ErrorCode.UNKNOWN_PROGRAM))
async def program_timeline(program: ProgramId, rulebook: RulebookDep) -> dict[str, Any]:
    return catalogue.program_timeline(rulebook, service.program_of(rulebook, program))


@router.post("/programs/{program}/compare",
             summary="One set of inputs under a baseline and a reform: both results, the difference, changed steps",
             responses=error_responses(ErrorCode.UNKNOWN_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR,
                                       ErrorCode.INVALID_OVERRIDE, ErrorCode.ATTRIBUTE_MISSING))
async def compare_program(program: ProgramId, body: CompareRequest, rulebook: RulebookDep,
                          reference: ReferenceDep) -> JSONResponse:
    return JSONResponse(compare.compare(rulebook, reference, program, body))


@router.post("/impact", status_code=202, summary="Start an impact run of a program over every municipality",
             responses=error_responses(ErrorCode.INVALID_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR,
                                       ErrorCode.INVALID_OVERRIDE))
async def start_impact(body: ImpactRequest, request: Request, background: BackgroundTasks, session: SessionDep,
                       rulebook: RulebookDep, reference: ReferenceDep, principal: Authenticated) -> JSONResponse:
    job = await impact.create_job(session, rulebook, reference, principal, body)
    background.add_task(impact.run_in_app, request.app, job.id)  # after the commit, which precedes the response
    location = f"/subsidy/impact/{job.id}"
    return JSONResponse(impact.job_view(job), status_code=202, headers={"Location": location})


@router.get("/impact/{job_id}", summary="An impact run: progress, then per-municipality results and totals "
            "(CSV with Accept: text/csv)",
            responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.IMPACT_JOB_NOT_DONE))
async def get_impact(job_id: Annotated[str, Path(max_length=40)], request: Request, session: SessionDep,
                     principal: Authenticated) -> Response:
    job = await impact.get_job(session, principal, job_id)
    if "text/csv" not in request.headers.get("accept", ""):
        return JSONResponse(impact.job_view(job))
    if job.status != "done":
        raise Conflict(f"impact job {job.id} is {job.status}; its CSV exists once it is done",
                       code=ErrorCode.IMPACT_JOB_NOT_DONE, field="job_id")
    return Response(impact.job_csv(job), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{job.id}.csv"'})
