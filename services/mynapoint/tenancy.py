"""Who may see or change what: a program (ops any, a municipality its own, other roles read only), a provider's
rows (a provider key its own) and an outbound delivery (ops any, a provider key its own)."""

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.errors import Forbidden, NotFound
from common.models import OutboxEvent, Program


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


def provider_filter(principal: Principal, provider_id: str | None, *, field: str, noun: str) -> str | None:
    """The provider a listing is limited to: a provider key's own whatever it asks (another's is refused, for
    any id, so the refusal confirms none), or the filter as given for the other roles."""
    if principal.role != "provider":
        return provider_id
    if provider_id not in (None, principal.provider_id):
        raise Forbidden(f"a provider key sees only its own {noun}", field=field)
    return principal.provider_id


async def delivery_for(session: AsyncSession, principal: Principal, event_id: str) -> OutboxEvent:
    """The delivery if this caller may see it: ops any, a provider key its own (404 for another's)."""
    event = await get_or_404(session, OutboxEvent, event_id, field="event_id", noun="delivery")
    if principal.role != "ops" and principal.provider_id != event.provider_id:
        raise NotFound(f"no delivery {event_id}", field="event_id")
    return event
