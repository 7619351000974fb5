"""`chiiki subsidy …`: calculations in a terminal, with a readable trace, or as CSV for a spreadsheet."""

import asyncio
import csv
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from services.subsidy.reference import MunicipalityFacts

app = typer.Typer(help="Subsidy calculations and rules.", no_args_is_help=True)


def parse_assignment(text: str) -> tuple[str, Any]:
    """key=value; the value is read as JSON (numbers, true/false, lists, objects) except decimals, kept as text so
    that rates stay exact ("0.3" stays "0.3"); anything else is text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{text!r}: write inputs as key=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
    return key, raw if isinstance(value, float) else value


async def _municipality(code: str) -> "MunicipalityFacts | None":
    from common.db import run_in_session
    from common.settings import get_settings
    from services.subsidy.reference import ReferenceData, read_reference

    reference: ReferenceData = await run_in_session(get_settings().database_url, read_reference)
    return reference.find(code)


def _text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _print_result(result: dict[str, Any], console: Console) -> None:
    status = "[green]eligible[/]" if result["eligible"] else "[red]not eligible[/]"
    console.print(
        f"[bold]{result['program']}[/] FY{result['fiscal_year']}: {status}, amount [bold]{result['amount']:,}[/] yen"
    )
    breakdown = Table("output", "value", title="breakdown")
    for key, value in result["breakdown"].items():
        breakdown.add_row(
            key,
            f"{value:,}"
            if isinstance(value, int) and not isinstance(value, bool)
            else json.dumps(value, ensure_ascii=False),
        )
    console.print(breakdown)
    for reason in result["reasons"]:
        console.print(f"  [yellow]reason[/] {reason['code']}: {reason['message']}")
    trace = Table("#", "rule", "formula", "parameters (period)", "result", "citation", title="trace", show_lines=True)
    trace.columns[1].overflow = "fold"
    for step in result["trace"]:
        params = "\n".join(
            f"{p['name']} = {_text(p['value'])} ({p['period']})" + (" (what-if)" if p.get("overridden") else "")
            for p in step["parameters"]
        )
        notes = "".join(f"\n[dim]{note}[/]" for note in step.get("notes", []))
        trace.add_row(
            str(step["step"]),
            step["rule"],
            step["formula"] + notes,
            params,
            json.dumps(step["result"], ensure_ascii=False),
            step["citation"],
        )
    console.print(trace)
    console.print(f"rules {result['rules_version']}, parameters {result['parameters_hash']}")


def _write_csv(result: dict[str, Any]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["section", "name", "value", "formula", "parameters", "citation"])
    writer.writerow(["result", "amount", result["amount"], "", "", ""])
    writer.writerow(["result", "eligible", result["eligible"], "", "", ""])
    for key, value in result["breakdown"].items():
        writer.writerow(
            [
                "breakdown",
                key,
                json.dumps(value, ensure_ascii=False) if not isinstance(value, int) else value,
                "",
                "",
                "",
            ]
        )
    for reason in result["reasons"]:
        writer.writerow(["reason", reason["code"], reason["message"], "", "", ""])
    for step in result["trace"]:
        writer.writerow(
            [
                "trace",
                step["rule"],
                json.dumps(step["result"], ensure_ascii=False),
                step["formula"],
                "; ".join(f"{p['name']}={p['value']} ({p['period']})" for p in step["parameters"]),
                step["citation"],
            ]
        )
    writer.writerow(["meta", "rules_version", result["rules_version"], "", "", ""])
    writer.writerow(["meta", "parameters_hash", result["parameters_hash"], "", "", ""])


@app.command("calc")
def calc(
    program: Annotated[str, typer.Argument(help="program id, e.g. local10000 (see `chiiki subsidy programs`)")],
    assignments: Annotated[
        list[str] | None, typer.Argument(help="inputs as key=value, e.g. plan_cost=30000000")
    ] = None,
    fiscal_year: Annotated[
        int | None, typer.Option(help="fiscal year (令和5年度 = 2023); default: the current one")
    ] = None,
    municipality: Annotated[str | None, typer.Option(help="municipality code, for reference attributes")] = None,
    override: Annotated[list[str] | None, typer.Option(help="what-if parameter as name=value (repeatable)")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout, for a spreadsheet")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON response")] = False,
) -> None:
    """Calculate one program and print the amount, the breakdown and the trace."""
    from common.errors import ChiikiError
    from services.subsidy.rulebook import get_rulebook
    from services.subsidy.service import compute

    inputs = dict(parse_assignment(a) for a in assignments or [])
    overrides = dict(parse_assignment(o) for o in override or [])
    try:
        found = asyncio.run(_municipality(municipality)) if municipality else None
        result = compute(get_rulebook(), program, fiscal_year, inputs, overrides, found)
    except ChiikiError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    elif as_csv:
        _write_csv(result)
    else:
        _print_result(result, Console())


@app.command("programs")
def programs() -> None:
    """List the programs and the fiscal years they have parameters for."""
    from services.subsidy.rulebook import get_rulebook

    table = Table("id", "name", "fiscal years", "citation")
    for program in get_rulebook().programs.values():
        years = program.fiscal_years
        table.add_row(program.id, program.spec.name_ja, f"{years.start}–{years.stop - 1}", program.spec.citation)
    Console().print(table)


@app.command("check-rules")
def check_rules() -> None:
    """Load and validate every rules file, as the service does at start-up."""
    from services.subsidy.rulebook import RulesError, load_rulebook

    try:
        rulebook = load_rulebook()
    except RulesError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(rulebook.programs)} programs, {rulebook.version}")
