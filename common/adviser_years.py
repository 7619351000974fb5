"""The adviser's three years (「外部専門家（地域力創造アドバイザー）制度」 １市町村当たり…最大３年間), read from the
recorded matches: one source of truth for matching's eligibility and the subsidy calculator's `year_of_use`, so it
lives in common (services never import each other).

A municipality used an adviser in every fiscal year (年度, JST) from the one in which one of its advisor-market
matches became `active` through the one in which it was `completed` (or the current year while it is still
active). For a fiscal year, `year_of_use` is 1 + the number of used years before it: the third year is the last
the rule covers.
"""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.eligibility import Reason, advisor_year_reasons, parameter
from common.models import Match, MatchTransition
from common.models.matching import Market, MatchStatus
from common.timeutil import JST, aware, current_fiscal_year, fiscal_year_of


@dataclass(frozen=True)
class AdviserYears:
    municipality_code: str
    fiscal_year: int
    years_used: tuple[int, ...]
    max_years: int

    @property
    def year_of_use(self) -> int:
        return 1 + sum(1 for year in self.years_used if year < self.fiscal_year)

    def reasons(self) -> list[Reason]:
        return advisor_year_reasons(self.year_of_use, self.max_years)

    def as_json(self) -> dict[str, Any]:
        return {
            "municipality_code": self.municipality_code,
            "fiscal_year": self.fiscal_year,
            "years_used": list(self.years_used),
            "year_of_use": self.year_of_use,
            "max_years": self.max_years,
            "within_limit": self.year_of_use <= self.max_years,
        }


def _fiscal_year(moment: datetime) -> int:
    return fiscal_year_of(aware(moment).astimezone(JST).date())


def years_of_use(activity: list[tuple[datetime, datetime | None]], now_year: int) -> set[int]:
    """The fiscal years covered by (became active, completed or None) spans."""
    years: set[int] = set()
    for began, ended in activity:
        years.update(range(_fiscal_year(began), (_fiscal_year(ended) if ended else now_year) + 1))
    return years


async def advisor_spans(session: AsyncSession, codes: Collection[str]) -> list[tuple[str, datetime, datetime | None]]:
    """(municipality, became active, completed or None) of each advisor-market match of `codes` that became
    active, from the matches' recorded transitions."""
    began = func.min(case((col(MatchTransition.to_status) == MatchStatus.active, col(MatchTransition.at))))
    ended = func.max(case((col(MatchTransition.to_status) == MatchStatus.completed, col(MatchTransition.at))))
    query = (
        select(col(Match.municipality_code), began, ended)
        .join(MatchTransition, col(MatchTransition.match_id) == col(Match.id))
        .where(
            Match.market == Market.advisor,
            col(Match.municipality_code).in_(list(codes)),
            col(MatchTransition.to_status).in_([MatchStatus.active, MatchStatus.completed]),
        )
        .group_by(col(Match.id), col(Match.municipality_code))
    )
    return [(code, start, end) for code, start, end in (await session.exec(query)).all() if start is not None]


async def adviser_years_of(session: AsyncSession, codes: Collection[str], fiscal_year: int) -> dict[str, AdviserYears]:
    """Each municipality's years of adviser use as seen from `fiscal_year` (one query for all of `codes`)."""
    spans: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for code, began, ended in await advisor_spans(session, codes):
        spans[code].append((began, ended))
    max_years = int(parameter("advisor", "max_years", fiscal_year).value)
    now_year = current_fiscal_year()
    return {
        code: AdviserYears(code, fiscal_year, tuple(sorted(years_of_use(spans.get(code, []), now_year))), max_years)
        for code in codes
    }


async def adviser_years(session: AsyncSession, code: str, fiscal_year: int) -> AdviserYears:
    return (await adviser_years_of(session, [code], fiscal_year))[code]
