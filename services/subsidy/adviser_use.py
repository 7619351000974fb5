"""The advisor program's `year_of_use` from the record. When a calculation names a municipality and leaves the
input out, it is the year of use that the municipality's advisor matches give for the fiscal year applied
(common/adviser_years.py, the count matching's eligibility uses too); a value the request gives wins. The routes
await this before the pure calculation, which never reads the database; a reader session is opened only when the
record is needed, so that the other calculations take none."""

from collections import defaultdict
from typing import Any

from common.adviser_years import adviser_years_of
from common.db import Database
from services.subsidy.rulebook import Rulebook
from services.subsidy.service import applied_fiscal_year

ADVISOR = "advisor"
YEAR_OF_USE = "year_of_use"


def _applied_year(
    rulebook: Rulebook, program_id: Any, municipality_code: Any, fiscal_year: Any, inputs: Any
) -> int | None:
    """The fiscal year whose year of use the calculation needs, or None when it needs none: another program, no
    municipality, `year_of_use` given, or a request the calculation will refuse anyway (a year without rules
    among them)."""
    program = rulebook.programs.get(program_id) if isinstance(program_id, str) else None
    if (
        program_id != ADVISOR
        or program is None
        or not isinstance(municipality_code, str)
        or not isinstance(inputs, dict)
        or YEAR_OF_USE in inputs
    ):
        return None
    if fiscal_year is not None and (not isinstance(fiscal_year, int) or isinstance(fiscal_year, bool)):
        return None
    year = applied_fiscal_year(program, fiscal_year)[0]
    return year if year in program.fiscal_years else None


async def with_year_of_use(
    db: Database,
    rulebook: Rulebook,
    program_id: str,
    fiscal_year: int | None,
    municipality_code: str | None,
    inputs: dict[str, Any],
) -> dict[str, Any]:
    """`inputs`, with the recorded `year_of_use` when the calculation needs it."""
    year = _applied_year(rulebook, program_id, municipality_code, fiscal_year, inputs)
    if year is None or municipality_code is None:
        return inputs
    async with db.reader() as session:
        years = await adviser_years_of(session, [municipality_code], year)
    return {**inputs, YEAR_OF_USE: years[municipality_code].year_of_use}


async def batch_with_year_of_use(db: Database, rulebook: Rulebook, items: list[Any]) -> list[Any]:
    """The batch's items, each advisor item that needs it with its recorded `year_of_use` (one query per fiscal
    year); items that are not objects stay as they are, for the batch to report."""
    wanted: dict[int, dict[int, str]] = defaultdict(dict)  # fiscal year → item index → municipality
    for index, item in enumerate(items):
        if isinstance(item, dict):
            code = item.get("municipality_code")
            inputs = item.get("inputs", {})
            year = _applied_year(rulebook, item.get("program"), code, item.get("fiscal_year"), inputs)
            if year is not None and isinstance(code, str):
                wanted[year][index] = code
    if not wanted:
        return items
    filled = list(items)
    async with db.reader() as session:
        for year, codes in wanted.items():
            years = await adviser_years_of(session, set(codes.values()), year)
            for index, code in codes.items():
                inputs = {**items[index].get("inputs", {}), YEAR_OF_USE: years[code].year_of_use}
                filled[index] = {**items[index], "inputs": inputs}
    return filled
