"""Subsidy calculation: validate, gather municipality attributes, run the program's pure calculator.

Never commits; the route's session does. Municipality attributes come from the reference data in memory.
"""

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from common.error_codes import ErrorCode
from common.errors import ChiikiError, NotFound, Unprocessable, field_errors
from common.timeutil import current_fiscal_year
from services.subsidy.calculators import CALCULATORS
from services.subsidy.calculators.base import Attribute, Context, FractionText, InputRelationError
from services.subsidy.reference import MunicipalityFacts, ReferenceData
from services.subsidy.rulebook import ParameterSet, Program, Rulebook
from services.subsidy.schemas import ProgramCalculationRequest

log = logging.getLogger("chiiki.subsidy")


class AttributeInputs(BaseModel):
    """Municipality attributes a request may give explicitly, overriding the reference data."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    fiscal_strength_index: FractionText | None = None
    kaso: StrictBool | None = None
    in_three_metro_areas: StrictBool | None = None
    population: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    is_prefecture: StrictBool | None = None


ATTRIBUTE_NAMES = frozenset(AttributeInputs.model_fields)


def validation_error(exc: ValidationError, prefix: str | None = None) -> Unprocessable:
    """Every invalid field, the first one at the top; a relation between inputs names the field it is about."""
    problems = []
    for problem in exc.errors():
        cause = (problem.get("ctx") or {}).get("error")
        if isinstance(cause, InputRelationError):
            problem = {**problem, "loc": (*problem["loc"], cause.field)}
        problems.append(problem)
    found = field_errors(problems, prefix)
    return Unprocessable(found[0]["message"], field=found[0]["field"] or prefix or "body", errors=found)


def attributes_for(municipality: MunicipalityFacts | None, inputs: dict[str, Any]) -> dict[str, Attribute]:
    attributes = dict(municipality.attributes) if municipality is not None else {}
    given = {name: inputs[name] for name in ATTRIBUTE_NAMES if name in inputs}
    if given:
        try:
            explicit = AttributeInputs.model_validate(given)
        except ValidationError as exc:
            raise validation_error(exc, "inputs") from None
        for name in given:
            attributes[name] = Attribute(getattr(explicit, name), "input")
    return attributes


def known_programs(rulebook: Rulebook) -> str:
    return ", ".join(sorted(rulebook.programs))


def program_of(rulebook: Rulebook, program_id: str, *, in_path: bool = True) -> Program:
    """The program; an unknown id is 404 in a path and 422 in a body field, both naming the known ones."""
    program = rulebook.programs.get(program_id)
    if program is None:
        message = f"unknown program {program_id!r}; known programs: {known_programs(rulebook)}"
        if in_path:
            raise NotFound(message, code=ErrorCode.UNKNOWN_PROGRAM, field="program")
        raise Unprocessable(message, code=ErrorCode.INVALID_PROGRAM, field="program")
    return program


def applied_fiscal_year(program: Program, requested: int | None) -> tuple[int, str | None]:
    """The requested year, or by default today's fiscal year when the rules cover it, else their latest one;
    with a notice when the default is not today's fiscal year."""
    if requested is not None:
        return requested, None
    today, years = current_fiscal_year(), program.fiscal_years
    if today in years:
        return today, None
    latest = years[-1]
    return latest, (
        f"no fiscal_year given and the rules of {program.id} cover FY{years[0]}–FY{latest}, not "
        f"today's FY{today}: FY{latest} applied"
    )


def parameters_for(rulebook: Rulebook, program: Program, fiscal_year: int, overrides: dict[str, Any]) -> ParameterSet:
    if fiscal_year not in program.fiscal_years:
        years = program.fiscal_years
        raise Unprocessable(
            f"{program.id} has no parameters for FY{fiscal_year}; "
            f"fiscal years with parameters: {years.start}–{years.stop - 1}",
            code=ErrorCode.UNKNOWN_FISCAL_YEAR,
            field="fiscal_year",
        )
    base = rulebook.parameter_set(program.id, fiscal_year)
    if not overrides:
        return base
    try:
        return rulebook.with_overrides(base, overrides)
    except KeyError as exc:
        name = exc.args[0]
        raise Unprocessable(
            f"{program.id} has no parameter {name!r} to override",
            code=ErrorCode.INVALID_OVERRIDE,
            field=f"overrides.{name}",
        ) from None
    except ValueError as exc:
        name = str(exc).split(":", 1)[0]
        raise Unprocessable(f"overrides.{exc}", code=ErrorCode.INVALID_OVERRIDE, field=f"overrides.{name}") from None


def compute(
    rulebook: Rulebook,
    program_id: str,
    fiscal_year: int | None,
    inputs: Any,
    overrides: Any,
    municipality: MunicipalityFacts | None,
    *,
    include_trace: bool = True,
    in_path: bool = True,
) -> dict[str, Any]:
    """One calculation, without the database: `municipality` comes from the reference data (or is None)."""
    program = program_of(rulebook, program_id, in_path=in_path)
    fiscal_year, notice = applied_fiscal_year(program, fiscal_year)
    if not isinstance(inputs, dict):
        raise Unprocessable("inputs must be an object", field="inputs")
    if not isinstance(overrides, dict):
        raise Unprocessable("overrides must be an object", field="overrides")
    params = parameters_for(rulebook, program, fiscal_year, overrides)
    calculator = CALCULATORS[program.id]
    try:
        parsed = calculator.inputs.model_validate({k: v for k, v in inputs.items() if k not in ATTRIBUTE_NAMES})
    except ValidationError as exc:
        raise validation_error(exc, "inputs") from None
    ctx = Context(params, attributes_for(municipality, inputs))
    try:
        amount, breakdown = calculator.compute(ctx, parsed)
    except (ArithmeticError, ValueError, TypeError) as exc:
        if not overrides:
            raise  # with the published parameters this is a bug: let it be a logged 500
        raise Unprocessable(
            f"the overridden parameters cannot be applied to these inputs: {exc}",
            code=ErrorCode.INVALID_OVERRIDE,
            field="overrides",
        ) from None
    result: dict[str, Any] = {
        "program": program.id,
        "fiscal_year": fiscal_year,
        "municipality_code": municipality.code if municipality is not None else None,
        "eligible": ctx.eligible,
        "amount": amount if ctx.eligible else 0,
        "breakdown": breakdown,
        "reasons": ctx.reasons,
        "rules_version": rulebook.version,
        "parameters_hash": params.hash,
    }
    if notice:
        result["notice"] = notice
    if overrides:
        result["overrides"] = {name: params.trace_entries[name]["value"] for name in overrides}
    if include_trace:
        result["trace"] = ctx.trace
    return result


def calculate(
    rulebook: Rulebook,
    reference: ReferenceData,
    program_id: str,
    fiscal_year: int | None,
    municipality_code: str | None,
    inputs: dict[str, Any],
    overrides: dict[str, Any],
) -> dict[str, Any]:
    program_of(rulebook, program_id)
    municipality = reference.find(municipality_code)
    return compute(rulebook, program_id, fiscal_year, inputs, overrides, municipality)


def item_error(exc: ChiikiError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": str(exc.code), "message": exc.message}
    if exc.field:
        error["field"] = exc.field
    return {"status": exc.status_code, "error": error}


def _internal_item_error() -> dict[str, Any]:
    return {
        "status": ErrorCode.INTERNAL_ERROR.status,
        "error": {
            "code": str(ErrorCode.INTERNAL_ERROR),
            "message": "this item could not be calculated: an unexpected error, logged with the request id",
        },
    }


def _batch_item(rulebook: Rulebook, reference: ReferenceData, item: Any, include_trace: bool) -> dict[str, Any]:
    try:
        request = ProgramCalculationRequest.model_validate(item)
    except ValidationError as exc:
        raise validation_error(exc) from None
    municipality = reference.find(request.municipality_code)
    return compute(
        rulebook,
        request.program,
        request.fiscal_year,
        request.inputs,
        request.overrides,
        municipality,
        include_trace=include_trace,
        in_path=False,
    )


def calculate_batch(
    rulebook: Rulebook, reference: ReferenceData, items: list[Any], *, include_trace: bool = True
) -> list[dict[str, Any]]:
    """Results in the order of `items`; an item that fails for any reason is reported in its place."""
    results = []
    for index, item in enumerate(items):
        try:
            results.append({"status": 200, "result": _batch_item(rulebook, reference, item, include_trace)})
        except ChiikiError as exc:
            results.append(item_error(exc))
        except Exception:  # a bug in one calculator must not cost the caller the other items
            log.exception("batch item %d failed", index)
            results.append(_internal_item_error())
    return results
