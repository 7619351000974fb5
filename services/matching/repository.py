from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import FieldOfWork


async def list_fields(session: AsyncSession) -> list[FieldOfWork]:
    query = select(FieldOfWork).order_by(FieldOfWork.sort_order, FieldOfWork.code)
    return list((await session.exec(query)).all())
