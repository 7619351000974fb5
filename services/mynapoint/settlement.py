"""Settlement files per municipality × provider × month, and the reconciliation of the ledger."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.errors import Forbidden, Unprocessable
from common.models import Program
from common.models.mynapoint import LedgerKind
from common.timeutil import JST
from services.mynapoint import repository
from services.mynapoint.tenancy import provider_filter

# The months whose [start, end) both exist as datetimes, in JST and in UTC.
FIRST_MONTH, LAST_MONTH = "0001-02", "9999-11"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """A calendar month in Japan time, as [start, end) instants."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime(year, number, 1, tzinfo=JST)
        end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=JST)
        start.astimezone(UTC)  # 0001-01 begins in year 0 in UTC, which has no datetime
    except (ValueError, OverflowError):
        raise Unprocessable(
            f"month must look like 2023-06, from {FIRST_MONTH} to {LAST_MONTH}", field="month"
        ) from None
    return start, end


async def settlements(
    session: AsyncSession, principal: Principal, month: str, municipality_code: str | None, provider_id: str | None
) -> list[dict[str, Any]]:
    if principal.role == "municipality":
        if municipality_code not in (None, principal.municipality_code):
            raise Forbidden("a municipality key sees only its own settlements", field="municipality")
        municipality_code = principal.municipality_code
    provider_id = provider_filter(principal, provider_id, field="provider", noun="settlements")
    start, end = month_bounds(month)
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for row in await repository.settlement_rows(session, start, end, municipality_code, provider_id):
        line = totals.setdefault(
            (row.municipality_code, row.provider_id),
            {
                "municipality_code": row.municipality_code,
                "provider_id": row.provider_id,
                "month": month,
                "credited_count": 0,
                "credited_yen": 0,
                "revoked_count": 0,
                "revoked_yen": 0,
            },
        )
        if row.kind == LedgerKind.post:
            line["credited_count"], line["credited_yen"] = row.entries, row.posted_yen
        else:
            line["revoked_count"], line["revoked_yen"] = row.entries, -row.posted_yen
    for line in totals.values():
        line["net_yen"] = line["credited_yen"] - line["revoked_yen"]
    return [totals[key] for key in sorted(totals)]


async def reconcile(session: AsyncSession) -> list[str]:
    """Differences between each program's committed totals, its ledger and its grants; empty when all agree."""
    ledger = await repository.ledger_sums(session)
    grants = await repository.grant_sums(session)
    problems = []
    for program in (await session.exec(select(Program).execution_options(populate_existing=True))).all():
        sums = ledger.get(program.id, repository.Balances(0, 0, 0))
        committed = repository.Balances(program.budget_yen, program.reserved_yen, program.posted_yen)
        if committed != sums:
            problems.append(
                f"{program.id}: committed (budget, reserved, posted) {tuple(committed)} "
                f"but the ledger sums to {tuple(sums)}"
            )
        if program.reserved_yen + program.posted_yen > program.budget_yen:
            problems.append(f"{program.id}: reserved + posted exceeds the budget {program.budget_yen}")
        by_grants = (grants.get((program.id, "reserved"), 0), grants.get((program.id, "posted"), 0))
        if by_grants != (program.reserved_yen, program.posted_yen):
            problems.append(
                f"{program.id}: live grants (reserved, posted) {by_grants} "
                f"differ from the committed {(program.reserved_yen, program.posted_yen)}"
            )
    return problems
