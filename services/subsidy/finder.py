"""Which programs can a municipality use, and for how much, from inputs that may be partial or empty.

Each program sees only the inputs it knows (its own and the municipality attributes). A program is
`needs_inputs` when one of its required inputs is missing, when none of its inputs was given at all, or when its
calculation stops at an input it needs (a 422 naming `inputs.<name>`); otherwise it is calculated exactly as a
single calculation is, and is `eligible` with its amount or `ineligible` with its reasons, each cited.
"""

from functools import cache
from typing import Any

from common.errors import ChiikiError
from services.subsidy.bounds import bound
from services.subsidy.calculators import CALCULATORS
from services.subsidy.calculators.base import Context
from services.subsidy.reference import MunicipalityFacts
from services.subsidy.rulebook import Program, Rulebook
from services.subsidy.service import ATTRIBUTE_NAMES, applied_fiscal_year, attributes_for, compute

ATTRIBUTE_DESCRIPTIONS = {
    "fiscal_strength_index": (
        "string",
        '財政力指数 of the municipality, e.g. "0.45" (the reference data has it for most municipalities)',
    ),
    "kaso": ("boolean", "the municipality is 過疎 (過疎関係市町村)"),
    "in_three_metro_areas": ("boolean", "the municipality is in the 三大都市圏"),
    "population": ("integer", "population of the municipality (令和2年国勢調査)"),
    "is_prefecture": ("boolean", "the applicant is a prefecture"),
}


def _schema_type(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return str(prop["type"])
    if "$ref" in prop:
        return "object"
    options = [_schema_type(option) for option in prop.get("anyOf", []) if option.get("type") != "null"]
    return " or ".join(dict.fromkeys(options)) or "any"


@cache
def input_schema(program_id: str) -> dict[str, Any]:
    """The program's input schema, built once: pydantic takes milliseconds to build one."""
    schema: dict[str, Any] = CALCULATORS[program_id].inputs.model_json_schema()
    return schema


def describe_input(program: Program, name: str, problem: str | None = None) -> dict[str, Any]:
    """Name, type and meaning of an input, from the program's input schema (or of a municipality attribute)."""
    if name in ATTRIBUTE_DESCRIPTIONS:
        kind, meaning = ATTRIBUTE_DESCRIPTIONS[name]
        described: dict[str, Any] = {"name": name, "type": kind, "description": meaning}
    else:
        schema = input_schema(program.id)
        prop = schema.get("properties", {}).get(name, {})
        described = {
            "name": name,
            "type": _schema_type(prop),
            "description": prop.get("description") or prop.get("title") or name,
            "required": name in schema.get("required", []),
        }
        for key in ("enum", "default", "minimum", "maximum"):
            if key in prop:
                described[key] = prop[key]
    if problem:
        described["problem"] = problem
    return described


def _missing_names(program: Program, own: dict[str, Any]) -> list[str]:
    fields = CALCULATORS[program.id].inputs.model_fields
    missing = [name for name, spec in fields.items() if spec.is_required() and name not in own]
    if not own and not missing:
        return list(fields)  # nothing said about this program: every input of it is still open
    return missing


def _cited(program: Program, reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**reason, "citation": program.spec.citation} for reason in reasons]


def _needs_inputs(
    rulebook: Rulebook,
    program: Program,
    fiscal_year: int,
    municipality: MunicipalityFacts | None,
    inputs: dict[str, Any],
    missing: list[dict[str, Any]],
) -> dict[str, Any]:
    ctx = Context(rulebook.parameter_set(program.id, fiscal_year), attributes_for(municipality, inputs))
    limit = bound(program.id, ctx, inputs)
    if limit.max_amount == 0 and limit.reasons:
        return {"status": "ineligible", "reasons": _cited(program, limit.reasons)}
    item: dict[str, Any] = {"status": "needs_inputs", "missing_inputs": missing}
    if limit.max_amount is not None:
        item["max_amount"] = limit.max_amount
    return item


def find_one(
    rulebook: Rulebook,
    program: Program,
    requested_year: int | None,
    municipality: MunicipalityFacts | None,
    inputs: dict[str, Any],
) -> dict[str, Any]:
    fiscal_year, notice = applied_fiscal_year(program, requested_year)
    head: dict[str, Any] = {"program": program.id, "name_ja": program.spec.name_ja, "fiscal_year": fiscal_year}
    if notice:
        head["notice"] = notice
    if fiscal_year not in program.fiscal_years:
        return head | {
            "status": "ineligible",
            "reasons": _cited(
                program,
                [
                    {
                        "code": "no_rules_for_fiscal_year",
                        "message": f"the rules of {program.id} cover FY"
                        f"{program.fiscal_years[0]}–FY{program.fiscal_years[-1]}, not FY{fiscal_year}",
                    }
                ],
            ),
        }
    fields = CALCULATORS[program.id].inputs.model_fields
    own = {name: value for name, value in inputs.items() if name in fields}
    given = own | {name: value for name, value in inputs.items() if name in ATTRIBUTE_NAMES}
    missing = _missing_names(program, own)
    if missing:
        described = [describe_input(program, name) for name in missing]
        return head | _needs_inputs(rulebook, program, fiscal_year, municipality, given, described)
    try:
        result = compute(rulebook, program.id, fiscal_year, given, {}, municipality, include_trace=False)
    except ChiikiError as exc:
        name = (exc.field or "inputs").removeprefix("inputs.").split(".")[0]
        described = [describe_input(program, name, exc.message)]
        return head | _needs_inputs(rulebook, program, fiscal_year, municipality, given, described)
    if result["eligible"]:
        return head | {"status": "eligible", "amount": result["amount"], "breakdown": result["breakdown"]}
    return head | {"status": "ineligible", "reasons": _cited(program, result["reasons"])}


def find(
    rulebook: Rulebook, requested_year: int | None, municipality: MunicipalityFacts, inputs: dict[str, Any]
) -> dict[str, Any]:
    items = [
        find_one(rulebook, rulebook.programs[program_id], requested_year, municipality, inputs)
        for program_id in sorted(rulebook.programs)
    ]
    return {
        "municipality_code": municipality.code,
        "municipality_name": municipality.name,
        "items": items,
        "rules_version": rulebook.version,
    }
