from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from common.auth import Authenticated
from common.codes import local_government_code_problem
from common.db import SessionDep
from common.errors import NotFound, Unprocessable
from common.models.municipality import MunicipalityPublic
from common.pagination import Page, PageParams, make_page, page_params
from services.subsidy import repository

router = APIRouter(prefix="/subsidy", tags=["subsidy"])

MunicipalityType = Literal["prefecture", "designated_city", "city", "special_ward", "town", "village"]


@router.get("/municipalities/{code}", response_model=MunicipalityPublic,
            summary="Reference attributes of a municipality (財政力指数, 過疎, 三大都市圏, population)")
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
