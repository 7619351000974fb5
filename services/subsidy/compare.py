"""A program under two sets of parameters (two fiscal years, or a year and a what-if): both results, the
difference in amount and per breakdown line, and the trace steps whose parameters or results differ."""

from typing import Any

from common.errors import ChiikiError
from services.subsidy.reference import MunicipalityFacts, ReferenceData
from services.subsidy.rulebook import Rulebook
from services.subsidy.schemas import CompareRequest, Scenario
from services.subsidy.service import compute, program_of


def _difference(baseline: Any, reform: Any) -> Any:
    """reform − baseline for integer lines (recursively through objects); None where a line is not a number."""
    if isinstance(baseline, dict) and isinstance(reform, dict):
        lines = {
            key: _difference(baseline.get(key, 0), reform.get(key, 0)) for key in dict.fromkeys([*baseline, *reform])
        }
        return {key: line for key, line in lines.items() if line is not None}
    if (
        isinstance(baseline, int)
        and isinstance(reform, int)
        and not isinstance(baseline, bool)
        and not isinstance(reform, bool)
    ):
        return reform - baseline
    return None


def _parameter_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    old = {p["name"]: p for p in before}
    new = {p["name"]: p for p in after}
    changes = []
    for name in dict.fromkeys([*old, *new]):
        a, b = old.get(name, {}), new.get(name, {})
        if a.get("value") != b.get("value") or a.get("citation") != b.get("citation"):
            changes.append(
                {
                    "name": name,
                    "baseline_value": a.get("value"),
                    "reform_value": b.get("value"),
                    "baseline_citation": a.get("citation"),
                    "reform_citation": b.get("citation"),
                    "baseline_period": a.get("period"),
                    "reform_period": b.get("period"),
                }
            )
    return changes


def changed_steps(baseline: list[dict[str, Any]], reform: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps matched by rule name (a rule that runs in one result only is listed with the other side null)."""
    before = {step["rule"]: step for step in baseline}
    after = {step["rule"]: step for step in reform}
    changes = []
    for rule in dict.fromkeys([*before, *after]):
        a, b = before.get(rule), after.get(rule)
        parameters = _parameter_changes(a["parameters"] if a else [], b["parameters"] if b else [])
        results_differ = a is None or b is None or a["result"] != b["result"]
        if parameters or results_differ:
            changes.append(
                {
                    "rule": rule,
                    "citation": (b or a or {}).get("citation"),
                    "baseline_result": a["result"] if a else None,
                    "reform_result": b["result"] if b else None,
                    "parameters": parameters,
                }
            )
    return changes


def _side(
    rulebook: Rulebook,
    program_id: str,
    name: str,
    scenario: Scenario,
    inputs: dict[str, Any],
    municipality: MunicipalityFacts | None,
) -> dict[str, Any]:
    try:
        return compute(rulebook, program_id, scenario.fiscal_year, inputs, scenario.overrides, municipality)
    except ChiikiError as exc:
        if exc.field and exc.field.split(".")[0] in ("fiscal_year", "overrides"):
            exc.field = f"{name}.{exc.field}"  # the error is about this side's scenario
        raise


def compare(rulebook: Rulebook, reference: ReferenceData, program_id: str, request: CompareRequest) -> dict[str, Any]:
    program_of(rulebook, program_id)
    municipality = reference.find(request.municipality_code)
    baseline, reform = (
        _side(rulebook, program_id, name, scenario, request.inputs, municipality)
        for name, scenario in (("baseline", request.baseline), ("reform", request.reform))
    )
    return {
        "baseline": baseline,
        "reform": reform,
        "difference": {
            "amount": reform["amount"] - baseline["amount"],
            "breakdown": _difference(baseline["breakdown"], reform["breakdown"]) or {},
        },
        "changed_steps": changed_steps(baseline["trace"], reform["trace"]),
    }
