"""Who may see or change a program: ops any, a municipality its own, other roles read only."""

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.errors import Forbidden, NotFound
from common.models import Program


async def program_for(session: AsyncSession, principal: Principal, program_id: str, *, manage: bool) -> Program:
    """The program if this caller may see it (manage: change it); 404 for another municipality's program."""
    program = await get_or_404(session, Program, program_id, field="program_id")
    if principal.role == "ops":
        return program
    if principal.role == "municipality":
        if principal.municipality_code != program.municipality_code:
            raise NotFound(f"no program {program_id}", field="program_id")
        return program
    if manage:
        raise Forbidden(f"the {principal.role} role cannot change programs")
    return program
