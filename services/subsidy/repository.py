"""The subsidy service's queries. Never commits; the route's session (or the impact runner) does."""

import unicodedata
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Municipality, SubsidyCalculation, SubsidyImpactJob
from common.pagination import PageParams, keyset

UNFINISHED = ("queued", "running")
# The model attribute is the table's column at run time; typed as Mapped by SQLModel.
MUNICIPALITY_CODE = cast(ColumnElement[str], Municipality.code)
CALCULATION_ID = cast(ColumnElement[str], SubsidyCalculation.id)


@dataclass(frozen=True)
class CalculationScope:
    """The rows a key may read: those of one municipality, or those one key saved; neither set means all."""

    municipality_code: str | None = None
    created_by_key_id: str | None = None


@dataclass(frozen=True)
class CalculationFilters:
    municipality_code: str | None = None
    program: str | None = None
    fiscal_year: int | None = None


@dataclass(frozen=True)
class MunicipalityFilters:
    name_or_code: str | None = None
    pref_code: str | None = None
    kaso: bool | None = None
    metro: bool | None = None
    municipality_type: str | None = None


# The reference data's readings are in katakana; a reading typed in hiragana finds them too.
HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(ord("ぁ"), ord("ゖ") + 1)}


def _name_or_code(typed: str) -> ColumnElement[bool]:
    """Part of the name in kanji, kana or English (any case), or the first digits of the code. Full-width digits
    and letters and half-width katakana, as Japanese keyboards type them, are read as the data spells them."""
    text = unicodedata.normalize("NFKC", typed)
    matches = [
        col(Municipality.name).contains(text, autoescape=True),
        col(Municipality.name_kana).contains(text.translate(HIRAGANA_TO_KATAKANA), autoescape=True),
        func.lower(col(Municipality.name_en)).contains(text.lower(), autoescape=True),
    ]
    if text.isascii() and text.isdigit():
        matches.append(col(Municipality.code).startswith(text, autoescape=True))
    return or_(*matches)


async def list_municipalities(
    session: AsyncSession, page: PageParams, filters: MunicipalityFilters
) -> list[Municipality]:
    query = select(Municipality)
    if filters.name_or_code:
        query = query.where(_name_or_code(filters.name_or_code))
    if filters.pref_code:
        query = query.where(Municipality.pref_code == filters.pref_code)
    if filters.kaso is not None:
        kaso = col(Municipality.kaso_type)
        query = query.where(kaso.is_not(None) if filters.kaso else kaso.is_(None))
    if filters.metro is not None:
        metro = col(Municipality.metro_area)
        query = query.where(metro.is_not(None) if filters.metro else metro.is_(None))
    if filters.municipality_type:
        query = query.where(Municipality.type == filters.municipality_type)
    return list((await session.exec(keyset(query, MUNICIPALITY_CODE, page))).all())


async def add(session: AsyncSession, row: SQLModel) -> None:
    session.add(row)
    await session.flush()


async def list_calculations(
    session: AsyncSession, page: PageParams, scope: CalculationScope, filters: CalculationFilters
) -> list[SubsidyCalculation]:
    query = select(SubsidyCalculation)
    equal = {"municipality_code": scope.municipality_code, "created_by_key_id": scope.created_by_key_id}
    for name, value in (equal | {"program": filters.program, "fiscal_year": filters.fiscal_year}).items():
        if value is not None:
            query = query.where(getattr(SubsidyCalculation, name) == value)
    if filters.municipality_code is not None:  # within the scope's municipality, if it has one
        query = query.where(SubsidyCalculation.municipality_code == filters.municipality_code)
    return list((await session.exec(keyset(query, CALCULATION_ID, page))).all())


async def get_calculation(session: AsyncSession, calculation_id: str) -> SubsidyCalculation | None:
    return await session.get(SubsidyCalculation, calculation_id)


async def get_impact_job(session: AsyncSession, job_id: str) -> SubsidyImpactJob | None:
    return await session.get(SubsidyImpactJob, job_id)


async def unfinished_impact_job_ids(session: AsyncSession) -> list[str]:
    query = select(SubsidyImpactJob.id).where(col(SubsidyImpactJob.status).in_(UNFINISHED))
    return list((await session.exec(query.order_by(col(SubsidyImpactJob.created_at)))).all())
