"""Saved calculations: who may save and read them. Never commits; the route's session does."""

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.errors import Forbidden, NotFound
from common.ids import new_id
from common.models import SubsidyCalculation
from common.pagination import PageParams
from services.subsidy import repository
from services.subsidy.reference import ReferenceData
from services.subsidy.rulebook import Rulebook
from services.subsidy.schemas import ProgramCalculationRequest
from services.subsidy.service import compute


def check_tenant(principal: Principal, municipality_code: str | None) -> None:
    if principal.role == "municipality" and municipality_code != principal.municipality_code:
        raise Forbidden(
            f"a key of municipality {principal.municipality_code} can only save its own calculations",
            field="municipality_code",
        )


def can_read(principal: Principal, municipality_code: str | None, created_by_key_id: str | None) -> bool:
    if principal.role == "ops":
        return True
    if principal.role == "municipality":
        return municipality_code == principal.municipality_code
    return created_by_key_id == principal.key_id


async def save_calculation(
    session: AsyncSession,
    rulebook: Rulebook,
    reference: ReferenceData,
    principal: Principal,
    request: ProgramCalculationRequest,
) -> SubsidyCalculation:
    check_tenant(principal, request.municipality_code)
    municipality = reference.find(request.municipality_code)
    result = compute(
        rulebook, request.program, request.fiscal_year, request.inputs, request.overrides, municipality, in_path=False
    )
    row = SubsidyCalculation(
        id=new_id("calc"),
        program=result["program"],
        fiscal_year=result["fiscal_year"],
        municipality_code=request.municipality_code,
        inputs=request.inputs,
        overrides=request.overrides,
        eligible=result["eligible"],
        amount=result["amount"],
        result=result,
        rules_version=result["rules_version"],
        parameters_hash=result["parameters_hash"],
        created_by_key_id=principal.key_id,
    )
    await repository.add(session, row)
    return row


async def get_calculation(session: AsyncSession, principal: Principal, calculation_id: str) -> SubsidyCalculation:
    row = await repository.get_calculation(session, calculation_id)
    if row is None or not can_read(principal, row.municipality_code, row.created_by_key_id):
        raise NotFound(f"no saved calculation {calculation_id}", field="id")
    return row


async def list_calculations(
    session: AsyncSession, principal: Principal, page: PageParams, filters: repository.CalculationFilters
) -> list[SubsidyCalculation]:
    """One page of the calculations `principal` may read (as `can_read` says of one), with the filters."""
    if principal.role == "ops":
        return await repository.list_calculations(session, page, repository.CalculationScope(), filters)
    if principal.role == "municipality":
        scope = repository.CalculationScope(municipality_code=principal.municipality_code)
    else:
        scope = repository.CalculationScope(created_by_key_id=principal.key_id)
    if scope.municipality_code is None and scope.created_by_key_id is None:
        return []  # a key without its tenant reads nothing, never everything
    return await repository.list_calculations(session, page, scope, filters)
