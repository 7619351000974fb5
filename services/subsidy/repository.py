from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Municipality
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
