from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from common.auth import Authenticated
from common.codes import local_government_code_problem
from common.db import ReadSessionDep, SessionDep
from common.error_codes import ErrorCode
from common.errors import NotFound, Unprocessable
from common.models.municipality import MunicipalityPublic
from common.models.subsidy import SubsidyCalculationPublic
from common.openapi import error_responses
from common.pagination import Page, PageParams, encode_cursor, make_page, page_params
from services.subsidy import repository, service
from services.subsidy.rulebook import Rulebook
from services.subsidy.schemas import (BatchRequest, BatchResult, CalculationRequest, CalculationResult,
                                     ProgramCalculationRequest)

router = APIRouter(prefix="/subsidy", tags=["subsidy"])


async def get_rulebook(request: Request) -> Rulebook:
    return request.app.state.rulebook


RulebookDep = Annotated[Rulebook, Depends(get_rulebook)]
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
    municipality = await repository.get_municipality(session, code)
    if municipality is None:
        raise NotFound(f"no municipality with code {code} in the reference data", field="code")
    return MunicipalityPublic.model_validate(municipality, from_attributes=True)


@router.get("/municipalities", response_model=Page[MunicipalityPublic],
            summary="Municipalities of the reference data, by code, with filters")
async def list_municipalities(
    session: SessionDep, _principal: Authenticated,
    page: Annotated[PageParams, Depends(page_params)],
    prefecture: Annotated[str | None, Query(pattern=r"^\d{2}$", description="prefecture code, e.g. 01")] = None,
    kaso: Annotated[bool | None, Query(description="only 過疎関係市町村 (true) or only the others (false)")] = None,
    three_metro_area: Annotated[bool | None, Query(description="in 三大都市圏 or not")] = None,
    type: Annotated[MunicipalityType | None, Query()] = None,
) -> dict:
    rows = await repository.list_municipalities(session, page, pref_code=prefecture, kaso=kaso,
                                                metro=three_metro_area, municipality_type=type)
    page_result = make_page(rows, page, "code")
    page_result["items"] = [MunicipalityPublic.model_validate(r, from_attributes=True) for r in page_result["items"]]
    return page_result


@router.get("/programs", summary="Catalogue of programs: names, citation, fiscal years with parameters")
async def list_programs(rulebook: RulebookDep, page: Annotated[PageParams, Depends(page_params)]) -> dict:
    ids = sorted(program_id for program_id in rulebook.programs if page.after is None or program_id > page.after)
    shown = ids[: page.limit]
    return {"items": [service.program_summary(rulebook.programs[program_id]) for program_id in shown],
            "next_cursor": encode_cursor(shown[-1]) if len(ids) > page.limit else None,
            "rules_version": rulebook.version}


@router.get("/programs/{program}", summary="A program's dated parameters, with citations and interpretation notes",
            responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.UNKNOWN_FISCAL_YEAR))
async def get_program(program: ProgramId, rulebook: RulebookDep,
                      fiscal_year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> dict:
    found = rulebook.programs.get(program)
    if found is None:
        raise NotFound(f"unknown program {program!r}; see GET /subsidy/programs", field="program")
    return service.program_detail(rulebook, found, fiscal_year)


@router.post("/programs/{program}/calculate", summary="Calculate one program: amount, breakdown, reasons, trace",
             responses={200: {"model": CalculationResult},
                        **error_responses(ErrorCode.NOT_FOUND, ErrorCode.UNKNOWN_PROGRAM, ErrorCode.UNKNOWN_FISCAL_YEAR,
                                          ErrorCode.INVALID_OVERRIDE, ErrorCode.ATTRIBUTE_MISSING)})
async def calculate(program: ProgramId, body: CalculationRequest, session: ReadSessionDep,
                    rulebook: RulebookDep) -> JSONResponse:
    return JSONResponse(await service.calculate(session, rulebook, program, body))


@router.post("/calculate/batch", summary="Many calculations; results in order, each item's error in its place",
             responses={200: {"model": BatchResult}})
async def calculate_batch(body: BatchRequest, session: ReadSessionDep, rulebook: RulebookDep) -> JSONResponse:
    results = await service.calculate_batch(session, rulebook, body.items, include_trace=body.include_trace)
    return JSONResponse({"results": results, "rules_version": rulebook.version})


@router.post("/calculations", status_code=201, response_model=SubsidyCalculationPublic,
             summary="Save a calculation with its result, rules version and parameter hash",
             responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.UNKNOWN_PROGRAM,
                                       ErrorCode.UNKNOWN_FISCAL_YEAR, ErrorCode.INVALID_OVERRIDE,
                                       ErrorCode.ATTRIBUTE_MISSING))
async def save_calculation(body: ProgramCalculationRequest, session: SessionDep, rulebook: RulebookDep,
                           principal: Authenticated) -> SubsidyCalculationPublic:
    row = await service.save_calculation(session, rulebook, principal, body)
    return SubsidyCalculationPublic.model_validate(row, from_attributes=True)


@router.get("/calculations/{calculation_id}", response_model=SubsidyCalculationPublic,
            summary="A saved calculation, unchanged even after the rules move on",
            responses=error_responses(ErrorCode.NOT_FOUND))
async def get_calculation(calculation_id: Annotated[str, Path(max_length=40)], session: SessionDep,
                          principal: Authenticated) -> SubsidyCalculationPublic:
    row = await service.get_calculation(session, principal, calculation_id)
    return SubsidyCalculationPublic.model_validate(row, from_attributes=True)
