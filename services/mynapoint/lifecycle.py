"""A program's life after creation: renamed, its closing moved, paused, closed or opened again. Every change is
a row of the program's change log (who, when, which request, the fields before and after), written with it.

Pausing or closing refuses new applications (services/mynapoint/applications.py); it touches no grant, so
reservations already made are credited, voided or expire as they would have."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.error_codes import ErrorCode
from common.errors import Conflict, Unprocessable
from common.models import Program, ProgramChange
from common.models.mynapoint import ProgramStatus
from common.requestid import current_request_id
from common.timeutil import aware, utcnow
from services.mynapoint.schemas import ProgramUpdate
from services.mynapoint.tenancy import program_for

REFUSAL = {
    ProgramStatus.paused: (ErrorCode.PROGRAM_PAUSED, "is paused: it takes no new applications for now"),
    ProgramStatus.closed: (ErrorCode.PROGRAM_CLOSED, "is closed: it takes no new applications"),
}


def refuse_unless_open(program_id: str, status: str) -> None:
    """The error a new application to a paused or closed program answers."""
    if status in REFUSAL:
        code, why = REFUSAL[ProgramStatus(status)]
        raise Conflict(f"program {program_id} {why}", code=code, field="program_id")


async def update_program(session: AsyncSession, principal: Principal, program_id: str, body: ProgramUpdate) -> Program:
    program = await program_for(session, principal, program_id, manage=True)
    changes = _checked_changes(program, body)
    before = {name: _json(getattr(program, name)) for name in changes}
    for name, value in changes.items():
        setattr(program, name, value)
    after = {name: _json(value) for name, value in changes.items()}
    if before != after:
        session.add(program)
        session.add(
            ProgramChange(
                program_id=program.id,
                actor=principal.describe(),
                key_id=principal.key_id,
                request_id=current_request_id(),
                before=before,
                after=after,
            )
        )
        await session.flush()
        await session.refresh(program)
    return program


def _checked_changes(program: Program, body: ProgramUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if None in changes.values():
        field = next(name for name, value in changes.items() if value is None)
        raise Unprocessable(f"{field} cannot be empty; leave it out to keep it", field=field)
    if "closes_at" in changes:
        closes_at = changes["closes_at"].astimezone(UTC)
        if closes_at < utcnow():
            raise Unprocessable("closes_at cannot be moved before now", field="closes_at")
        if closes_at <= aware(program.opens_at):
            raise Unprocessable("closes_at must be after opens_at", field="closes_at")
        changes["closes_at"] = closes_at
    if "status" in changes:
        changes["status"] = ProgramStatus(changes["status"])
    # Only what differs is a change: sending the current name again records nothing.
    return {name: value for name, value in changes.items() if _json(getattr(program, name)) != _json(value)}


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return aware(value).astimezone(UTC).isoformat()
    return str(value) if isinstance(value, ProgramStatus) else value
