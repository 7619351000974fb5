"""Subsidy calculation: validate, gather municipality attributes, run the program's pure calculator.

Never commits; the route's session does.
"""

from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.codes import local_government_code_problem
from common.errors import ChiikiError, Forbidden, NotFound, Unprocessable, invalid_input
from common.models import Municipality, SubsidyCalculation
from common.error_codes import ErrorCode
from common.ids import new_id
from common.timeutil import current_fiscal_year
from services.subsidy import repository
from services.subsidy.calculators import CALCULATORS
from services.subsidy.calculators.base import Attribute, Context, FractionText
from services.subsidy.rulebook import ParameterSet, Program, Rulebook, period_label
from services.subsidy.schemas import CalculationRequest, ProgramCalculationRequest


class AttributeInputs(BaseModel):
    """Municipality attributes a request may give explicitly, overriding the reference data."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    fiscal_strength_index: FractionText | None = None
    kaso: StrictBool | None = None
    in_three_metro_areas: StrictBool | None = None
    population: StrictInt | None = Field(default=None, ge=0, le=100_000_000)


ATTRIBUTE_NAMES = tuple(AttributeInputs.model_fields)


def _validation_error(exc: ValidationError, prefix: str | None = None) -> Unprocessable:
    return invalid_input(exc, prefix)  # every invalid field, not only the first


def reference_attributes(municipality: Municipality) -> dict[str, Attribute]:
    source = f"reference:{municipality.code}"
    fsi_source = source + (f" (財政力指数 FY{municipality.fiscal_strength_index_fy})"
                           if municipality.fiscal_strength_index_fy else "")
    fsi = municipality.fiscal_strength_index
    return {"fiscal_strength_index": Attribute(Fraction(fsi) if fsi is not None else None, fsi_source),
            "kaso": Attribute(municipality.kaso_type is not None, source),
            "in_three_metro_areas": Attribute(municipality.metro_area is not None, source),
            "population": Attribute(municipality.population_2020, source + " (令和2年国勢調査)")}


def _attributes(municipality: Municipality | None, inputs: dict[str, Any]) -> dict[str, Attribute]:
    attributes = reference_attributes(municipality) if municipality is not None else {}
    given = {name: inputs[name] for name in ATTRIBUTE_NAMES if name in inputs}
    if given:
        try:
            explicit = AttributeInputs.model_validate(given)
        except ValidationError as exc:
            raise _validation_error(exc, "inputs") from None
        for name in given:
            attributes[name] = Attribute(getattr(explicit, name), "input")
    return attributes


def program_of(rulebook: Rulebook, program_id: str) -> Program:
    program = rulebook.programs.get(program_id)
    if program is None:
        raise Unprocessable(f"unknown program {program_id!r}; see GET /subsidy/programs", code=ErrorCode.UNKNOWN_PROGRAM,
                            field="program")
    return program


def _parameters(rulebook: Rulebook, program: Program, fiscal_year: int, overrides: dict) -> ParameterSet:
    if fiscal_year not in program.fiscal_years:
        years = program.fiscal_years
        raise Unprocessable(f"{program.id} has no parameters for FY{fiscal_year}; "
                            f"fiscal years with parameters: {years.start}–{years.stop - 1}",
                            code=ErrorCode.UNKNOWN_FISCAL_YEAR, field="fiscal_year")
    base = rulebook.parameter_set(program.id, fiscal_year)
    if not overrides:
        return base
    try:
        return rulebook.with_overrides(base, overrides)
    except KeyError as exc:
        name = exc.args[0]
        raise Unprocessable(f"{program.id} has no parameter {name!r} to override", field=f"overrides.{name}") from None
    except ValueError as exc:
        name = str(exc).split(":", 1)[0]
        raise Unprocessable(f"overrides.{exc}", field=f"overrides.{name}") from None


def compute(rulebook: Rulebook, program_id: str, fiscal_year: int | None, inputs: Any, overrides: Any,
            municipality: Municipality | None, *, include_trace: bool = True) -> dict:
    """One calculation, without the database: `municipality` is the reference row (or None)."""
    program = program_of(rulebook, program_id)
    fiscal_year = current_fiscal_year() if fiscal_year is None else fiscal_year
    if not isinstance(inputs, dict):
        raise Unprocessable("inputs must be an object", field="inputs")
    if not isinstance(overrides, dict):
        raise Unprocessable("overrides must be an object", field="overrides")
    params = _parameters(rulebook, program, fiscal_year, overrides)
    calculator = CALCULATORS[program.id]
    try:
        parsed = calculator.inputs.model_validate({k: v for k, v in inputs.items() if k not in ATTRIBUTE_NAMES})
    except ValidationError as exc:
        raise _validation_error(exc, "inputs") from None
    ctx = Context(params, _attributes(municipality, inputs))
    try:
        amount, breakdown = calculator.compute(ctx, parsed)
    except (ArithmeticError, ValueError, TypeError) as exc:
        if not overrides:
            raise  # with the published parameters this is a bug: let it be a logged 500
        raise Unprocessable(f"the overridden parameters cannot be applied to these inputs: {exc}",
                            code=ErrorCode.INVALID_OVERRIDE, field="overrides") from None
    result = {"program": program.id, "fiscal_year": fiscal_year,
              "municipality_code": municipality.code if municipality is not None else None,
              "eligible": ctx.eligible, "amount": amount if ctx.eligible else 0, "breakdown": breakdown,
              "reasons": ctx.reasons, "rules_version": rulebook.version, "parameters_hash": params.hash}
    if overrides:
        result["overrides"] = {name: params.trace_entries[name]["value"] for name in overrides}
    if include_trace:
        result["trace"] = ctx.trace
    return result


async def find_municipality(session: AsyncSession, code: str | None) -> Municipality | None:
    if code is None:
        return None
    if problem := local_government_code_problem(code):
        raise Unprocessable(problem, field="municipality_code")
    municipality = await repository.get_municipality(session, code)
    if municipality is None:
        raise NotFound(f"no municipality with code {code} in the reference data", field="municipality_code")
    return municipality


async def calculate(session: AsyncSession, rulebook: Rulebook, program_id: str, request: CalculationRequest) -> dict:
    program_of(rulebook, program_id)
    municipality = await find_municipality(session, request.municipality_code)
    return compute(rulebook, program_id, request.fiscal_year, request.inputs, request.overrides, municipality)


def _item_error(exc: ChiikiError) -> dict:
    error = {"code": exc.code, "message": exc.message}
    if exc.field:
        error["field"] = exc.field
    return {"status": exc.status_code, "error": error}


def _parse_item(item: Any) -> ProgramCalculationRequest:
    try:
        return ProgramCalculationRequest.model_validate(item)
    except ValidationError as exc:
        raise _validation_error(exc) from None


async def calculate_batch(session: AsyncSession, rulebook: Rulebook, items: list[Any], *,
                          include_trace: bool = True) -> list[dict]:
    """Results in the order of `items`; an item's error is reported in its place. One query for municipalities."""
    parsed: list[ProgramCalculationRequest | ChiikiError] = []
    for item in items:
        try:
            parsed.append(_parse_item(item))
        except ChiikiError as exc:
            parsed.append(exc)
    codes = {p.municipality_code for p in parsed if isinstance(p, ProgramCalculationRequest) and p.municipality_code
             and not local_government_code_problem(p.municipality_code)}
    municipalities = await repository.get_municipalities(session, codes)
    results = []
    for request in parsed:
        try:
            if isinstance(request, ChiikiError):
                raise request
            municipality = _batch_municipality(request.municipality_code, municipalities)
            result = compute(rulebook, request.program, request.fiscal_year, request.inputs, request.overrides,
                             municipality, include_trace=include_trace)
            results.append({"status": 200, "result": result})
        except ChiikiError as exc:
            results.append(_item_error(exc))
    return results


def _batch_municipality(code: str | None, found: dict[str, Municipality]) -> Municipality | None:
    if code is None:
        return None
    if problem := local_government_code_problem(code):
        raise Unprocessable(problem, field="municipality_code")
    if code not in found:
        raise NotFound(f"no municipality with code {code} in the reference data", field="municipality_code")
    return found[code]


# --- saved calculations -----------------------------------------------------------------------------

def _check_tenant(principal: Principal, municipality_code: str | None) -> None:
    if principal.role == "municipality" and municipality_code != principal.municipality_code:
        raise Forbidden(f"a key of municipality {principal.municipality_code} can only save its own calculations",
                        field="municipality_code")


def _can_read(principal: Principal, row: SubsidyCalculation) -> bool:
    if principal.role == "ops":
        return True
    if principal.role == "municipality":
        return row.municipality_code == principal.municipality_code
    return row.created_by_key_id == principal.key_id


async def save_calculation(session: AsyncSession, rulebook: Rulebook, principal: Principal,
                           request: ProgramCalculationRequest) -> SubsidyCalculation:
    _check_tenant(principal, request.municipality_code)
    result = await calculate(session, rulebook, request.program, request)
    row = SubsidyCalculation(id=new_id("calc"), program=result["program"],
                             fiscal_year=result["fiscal_year"], municipality_code=request.municipality_code,
                             inputs=request.inputs, overrides=request.overrides, eligible=result["eligible"],
                             amount=result["amount"], result=result, rules_version=result["rules_version"],
                             parameters_hash=result["parameters_hash"], created_by_key_id=principal.key_id)
    await repository.add_calculation(session, row)
    return row


async def get_calculation(session: AsyncSession, principal: Principal, calculation_id: str) -> SubsidyCalculation:
    row = await repository.get_calculation(session, calculation_id)
    if row is None or not _can_read(principal, row):
        raise NotFound(f"no saved calculation {calculation_id}", field="id")
    return row


# --- catalogue --------------------------------------------------------------------------------------

def program_summary(program: Program) -> dict:
    spec = program.spec
    return {"id": spec.program, "name_ja": spec.name_ja, "name_en": spec.name_en, "citation": spec.citation,
            "summary": spec.summary, "fiscal_years": list(program.fiscal_years)}


def program_detail(rulebook: Rulebook, program: Program, fiscal_year: int | None) -> dict:
    detail = program_summary(program) | {"rules_version": rulebook.version, "source_file": program.source_file}
    if fiscal_year is not None:
        params = _parameters(rulebook, program, fiscal_year, {})
        detail |= {"fiscal_year": fiscal_year, "parameters_hash": params.hash}
    parameters = []
    for name, spec in program.spec.parameters.items():
        entry = {"name": name, "type": spec.type, "description": spec.description, "citation": spec.citation}
        if spec.interpretation:
            entry["interpretation"] = spec.interpretation
        if fiscal_year is not None:
            entry |= params.trace_entries[name]
        else:
            entry["values"] = [{"period": period_label(v.from_year, v.to_year), "value": v.value,
                                **({"citation": v.citation} if v.citation else {}),
                                **({"note": v.note} if v.note else {})} for v in spec.values]
        parameters.append(entry)
    detail["parameters"] = parameters
    detail["inputs_schema"] = CALCULATORS[program.id].inputs.model_json_schema()
    return detail
