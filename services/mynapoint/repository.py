from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Provider
from common.pagination import PageParams


async def list_providers(session: AsyncSession, page: PageParams) -> list[Provider]:
    query = select(Provider).order_by(Provider.id).limit(page.limit + 1)
    if page.after:
        query = query.where(Provider.id > page.after)
    return list((await session.exec(query)).all())
