"""The catalogue: programs, their dated parameters, and each parameter's history over the rulebook's years."""

from functools import lru_cache
from typing import Any

from common.pagination import encode_cursor
from services.subsidy.calculators import CALCULATORS
from services.subsidy.rulebook import Program, Rulebook, period_label, to_json
from services.subsidy.schemas import ProgramCatalogue
from services.subsidy.service import parameters_for

# Pages of the catalogue kept as the JSON answered; a page depends on the rulebook, the cursor and the limit only.
CATALOGUE_PAGES_KEPT = 64


def program_summary(program: Program) -> dict[str, Any]:
    spec = program.spec
    return {
        "id": spec.program,
        "name_ja": spec.name_ja,
        "name_en": spec.name_en,
        "citation": spec.citation,
        "summary": spec.summary,
        "fiscal_years": list(program.fiscal_years),
    }


@lru_cache(maxsize=CATALOGUE_PAGES_KEPT)
def catalogue_page_json(rulebook: Rulebook, after: str | None, limit: int) -> bytes:
    """A page of the programs, by id, after the program id `after`, as `GET /subsidy/programs` answers it (a
    ProgramCatalogue, as JSON). Made once per page, since the rulebook never changes in a process."""
    ids = sorted(program_id for program_id in rulebook.programs if after is None or program_id > after)
    shown = ids[:limit]
    page = {
        "items": [program_summary(rulebook.programs[program_id]) for program_id in shown],
        "next_cursor": encode_cursor(shown[-1]) if len(ids) > limit else None,
        "rules_version": rulebook.version,
    }
    return ProgramCatalogue.model_validate(page).model_dump_json().encode()


def program_detail(rulebook: Rulebook, program: Program, fiscal_year: int | None) -> dict[str, Any]:
    detail = program_summary(program) | {"rules_version": rulebook.version, "source_file": program.source_file}
    params = None
    if fiscal_year is not None:
        params = parameters_for(rulebook, program, fiscal_year, {})
        detail |= {"fiscal_year": fiscal_year, "parameters_hash": params.hash}
    parameters = []
    for name, spec in program.spec.parameters.items():
        entry: dict[str, Any] = {
            "name": name,
            "type": spec.type,
            "description": spec.description,
            "citation": spec.citation,
        }
        if spec.interpretation:
            entry["interpretation"] = spec.interpretation
        if params is not None:
            entry |= params.trace_entries[name]
        else:
            entry["values"] = [
                {
                    "period": period_label(v.from_year, v.to_year),
                    "value": v.value,
                    **({"citation": v.citation} if v.citation else {}),
                    **({"note": v.note} if v.note else {}),
                }
                for v in spec.values
            ]
        parameters.append(entry)
    detail["parameters"] = parameters
    detail["inputs_schema"] = CALCULATORS[program.id].inputs.model_json_schema()
    return detail


def _parameter_timeline(program: Program, name: str) -> dict[str, Any]:
    spec = program.spec.parameters[name]
    years, changed_in, previous = [], [], None
    for fiscal_year in program.fiscal_years:
        parameter = program.parameter(name, fiscal_year)
        value = to_json(parameter.value, parameter.kind)
        changed = fiscal_year != program.fiscal_years[0] and value != previous
        if changed:
            changed_in.append(fiscal_year)
        entry: dict[str, Any] = {
            "fiscal_year": fiscal_year,
            "value": value,
            "period": parameter.period,
            "citation": parameter.citation,
            "changed": changed,
        }
        if parameter.note:
            entry["note"] = parameter.note
        if changed:
            entry["previous_value"] = previous
        years.append(entry)
        previous = value
    timeline: dict[str, Any] = {
        "name": name,
        "type": spec.type,
        "description": spec.description,
        "citation": spec.citation,
        "values": years,
        "changed_in": changed_in,
    }
    if spec.interpretation:
        timeline["interpretation"] = spec.interpretation
    return timeline


def program_timeline(rulebook: Rulebook, program: Program) -> dict[str, Any]:
    """Every parameter's value in each fiscal year the rulebook covers, where it changed, and each citation."""
    parameters = [_parameter_timeline(program, name) for name in program.spec.parameters]
    return {
        "program": program.id,
        "fiscal_years": list(program.fiscal_years),
        "rules_version": rulebook.version,
        "parameters": parameters,
        "changed": [p["name"] for p in parameters if p["changed_in"]],
    }
