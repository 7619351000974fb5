"""The subsidy service's queries. Never commits; the route's session (or the impact runner) does."""

from typing import cast

from sqlalchemy import ColumnElement
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Municipality, SubsidyCalculation, SubsidyImpactJob
from common.pagination import PageParams, keyset

UNFINISHED = ("queued", "running")
# The model attribute is the table's column at run time; typed as Mapped by SQLModel.
MUNICIPALITY_CODE = cast(ColumnElement[str], Municipality.code)


async def list_municipalities(session: AsyncSession, page: PageParams, *, pref_code: str | None = None,
                              kaso: bool | None = None, metro: bool | None = None,
                              municipality_type: str | None = None) -> list[Municipality]:
    query = select(Municipality)
    if pref_code:
        query = query.where(Municipality.pref_code == pref_code)
    if kaso is not None:
        query = query.where(col(Municipality.kaso_type).is_not(None) if kaso else col(Municipality.kaso_type).is_(None))
    if metro is not None:
        query = query.where(col(Municipality.metro_area).is_not(None) if metro
                            else col(Municipality.metro_area).is_(None))
    if municipality_type:
        query = query.where(Municipality.type == municipality_type)
    return list((await session.exec(keyset(query, MUNICIPALITY_CODE, page))).all())


async def add(session: AsyncSession, row: SQLModel) -> None:
    session.add(row)
    await session.flush()


async def get_calculation(session: AsyncSession, calculation_id: str) -> SubsidyCalculation | None:
    return await session.get(SubsidyCalculation, calculation_id)


async def get_impact_job(session: AsyncSession, job_id: str) -> SubsidyImpactJob | None:
    return await session.get(SubsidyImpactJob, job_id)


async def unfinished_impact_job_ids(session: AsyncSession) -> list[str]:
    query = select(SubsidyImpactJob.id).where(col(SubsidyImpactJob.status).in_(UNFINISHED))
    return list((await session.exec(query.order_by(col(SubsidyImpactJob.created_at)))).all())
