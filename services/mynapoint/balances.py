"""A program's balances over time, from its ledger: budget, reserved and posted yen at the end of each Japan-time
day on which any of them moved. The point-program page draws its budget chart from it."""

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String
from sqlmodel.ext.asyncio.session import AsyncSession

from services.mynapoint.statements import LEDGER


class BalanceDay(BaseModel):
    day: date
    budget_yen: int
    reserved_yen: int
    posted_yen: int


class BalanceHistory(BaseModel):
    program_id: str
    days: list[BalanceDay]


class JstDay(FunctionElement[str]):
    """A stored UTC instant's calendar day in Japan time, as YYYY-MM-DD text, on either database."""

    type = String()
    inherit_cache = True


@compiles(JstDay, "sqlite")
def _jst_day_sqlite(element: JstDay, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps the suite's UTC instants as text without their zone (common/timeutil.py: aware).
    return f"date({compiler.process(element.clauses, **kw)}, '+9 hours')"


@compiles(JstDay, "postgresql")
def _jst_day_postgresql(element: JstDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')"


async def history(session: AsyncSession, program_id: str) -> list[BalanceDay]:
    """One item per JST day with a ledger movement, oldest first: the balances once that day's movements are in."""
    day = JstDay(LEDGER.c.created_at)
    query = (
        core_select(
            day,
            func.sum(LEDGER.c.budget_delta),
            func.sum(LEDGER.c.reserved_delta),
            func.sum(LEDGER.c.posted_delta),
        )
        .where(LEDGER.c.program_id == program_id)
        .group_by(day)
        .order_by(day)
    )
    budget = reserved = posted = 0
    days = []
    for moved_on, budget_delta, reserved_delta, posted_delta in await (await session.connection()).execute(query):
        # PostgreSQL sums bigint as numeric: int() keeps the yen integers
        budget, reserved, posted = (
            budget + int(budget_delta),
            reserved + int(reserved_delta),
            posted + int(posted_delta),
        )
        days.append(
            BalanceDay(day=date.fromisoformat(moved_on), budget_yen=budget, reserved_yen=reserved, posted_yen=posted)
        )
    return days
