from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Municipality, SubsidyCalculation
from common.pagination import PageParams


async def get_municipality(session: AsyncSession, code: str) -> Municipality | None:
    return await session.get(Municipality, code)


async def list_municipalities(session: AsyncSession, page: PageParams, *, pref_code: str | None = None,
                              kaso: bool | None = None, metro: bool | None = None,
                              municipality_type: str | None = None) -> list[Municipality]:
    query = select(Municipality).order_by(Municipality.code).limit(page.limit + 1)
    if page.after:
        query = query.where(Municipality.code > page.after)
    if pref_code:
        query = query.where(Municipality.pref_code == pref_code)
    if kaso is not None:
        query = query.where(Municipality.kaso_type.is_not(None) if kaso else Municipality.kaso_type.is_(None))
    if metro is not None:
        query = query.where(Municipality.metro_area.is_not(None) if metro else Municipality.metro_area.is_(None))
    if municipality_type:
        query = query.where(Municipality.type == municipality_type)
    return list((await session.exec(query)).all())


async def get_municipalities(session: AsyncSession, codes: set[str]) -> dict[str, Municipality]:
    if not codes:
        return {}
    rows = await session.exec(select(Municipality).where(Municipality.code.in_(sorted(codes))))
    return {row.code: row for row in rows.all()}


async def add_calculation(session: AsyncSession, calculation: SubsidyCalculation) -> None:
    session.add(calculation)
    await session.flush()


async def get_calculation(session: AsyncSession, calculation_id: str) -> SubsidyCalculation | None:
    return await session.get(SubsidyCalculation, calculation_id)
