"""Point programs and their rosters: created by a municipality (or from a built-in template), funded, and the
residents the municipality attests. Funding is a ledger movement (services/mynapoint/ledger.py)."""

from datetime import UTC
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.driver_sql import DriverConnection
from common.errors import Forbidden, Unprocessable
from common.ids import new_id
from common.models import Municipality, Program, Provider
from common.timeutil import utcnow
from services.mynapoint import ledger
from services.mynapoint.identity import MykiHasher
from services.mynapoint.schemas import ProgramCreate, RosterRow
from services.mynapoint.statements import UPSERT_ROSTER
from services.mynapoint.templates import TEMPLATES
from services.mynapoint.tenancy import program_for


def _program_fields(body: ProgramCreate) -> dict[str, Any]:
    fields = body.model_dump(exclude_none=True, exclude={"template", "eligibility"})
    if body.template is not None:
        if body.template not in TEMPLATES:
            raise Unprocessable(f"unknown template; use one of {', '.join(TEMPLATES)}", field="template")
        template = {k: v for k, v in TEMPLATES[body.template].items() if k not in ("description", "eligibility")}
        fields = {**template, **fields}
    for name in ("kind", "opens_at", "closes_at"):
        if name not in fields:
            raise Unprocessable(f"{name} is required (or a template that sets it)", field=name)
    # SQLite keeps datetimes without their offset, so every stored instant is UTC.
    fields["opens_at"], fields["closes_at"] = (fields[n].astimezone(UTC) for n in ("opens_at", "closes_at"))
    if fields["closes_at"] <= fields["opens_at"]:
        raise Unprocessable("closes_at must be after opens_at", field="closes_at")
    if fields["kind"] == "fixed" and not fields.get("points_per_person"):
        raise Unprocessable("a fixed program needs points_per_person", field="points_per_person")
    if fields["kind"] == "premium" and not fields.get("premium_rate"):
        raise Unprocessable("a premium program needs premium_rate", field="premium_rate")
    return fields


async def create_program(session: AsyncSession, principal: Principal, body: ProgramCreate) -> Program:
    if principal.role == "municipality" and principal.municipality_code != body.municipality_code:
        raise Forbidden("a municipality key creates programs only for its own municipality", field="municipality_code")
    await get_or_404(
        session, Municipality, body.municipality_code, field="municipality_code", noun="municipality with code"
    )
    for index, provider_id in enumerate(body.provider_ids):
        await get_or_404(session, Provider, provider_id, field=f"provider_ids.{index}")
    fields = _program_fields(body)
    budget = fields.pop("budget_yen")
    program = Program(id=new_id("prog"), template=body.template, budget_yen=0, eligibility=_eligibility(body), **fields)
    session.add(program)
    if budget:
        await ledger.fund(DriverConnection(session), program.id, budget)
    await session.flush()  # a program created with no budget has no ledger statement to flush it
    await session.refresh(program)
    return program


def _eligibility(body: ProgramCreate) -> dict[str, Any]:
    """The template's rules (its card-application deadline), then the body's own over them."""
    template = TEMPLATES[body.template].get("eligibility", {}) if body.template else {}
    return {**template, **body.eligibility.model_dump(mode="json", exclude_none=True)}


async def fund_program(session: AsyncSession, principal: Principal, program_id: str, amount: int) -> Program:
    program = await program_for(session, principal, program_id, manage=True)
    await ledger.fund(DriverConnection(session), program.id, amount)
    await session.refresh(program)
    return program


# --- roster ----------------------------------------------------------------------------------------------


async def upsert_roster(
    session: AsyncSession, principal: Principal, program_id: str, rows: list[dict[str, Any]], secret: bytes
) -> dict[str, Any]:
    """All rows or none: every row is validated first, and any error leaves the roster untouched. The rows are
    written by one driver-level executemany (a resident already on the roster gets the new attributes)."""
    program = await program_for(session, principal, program_id, manage=True)
    entries: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    updated_at, hasher = utcnow(), MykiHasher(secret)
    for number, raw in enumerate(rows, start=1):
        entry = _roster_entry(raw, hasher, number, errors)
        if entry is not None:
            entries[entry["myki_hash"]] = entry | {"program_id": program.id, "updated_at": updated_at}
    if errors:
        return {"upserted": 0, "errors": errors}
    await DriverConnection(session).upsert_many(UPSERT_ROSTER, list(entries.values()))
    return {"upserted": len(entries), "errors": []}


def _roster_entry(
    raw: dict[str, Any], hasher: MykiHasher, number: int, errors: list[dict[str, Any]]
) -> dict[str, Any] | None:
    try:
        row = RosterRow.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        errors.append({"row": number, "field": field, "message": first["msg"]})
        return None
    try:
        digest = hasher(row.myki_id)
    except Unprocessable as exc:
        errors.append({"row": number, "field": "myki_id", "message": exc.message})
        return None
    return {
        "myki_hash": digest,
        "entry_id": new_id("res"),
        "birth_date": row.birth_date,
        "household_with_children": row.household_with_children,
        "income_band": row.income_band,
        "activity_participation": row.activity_participation,
        "card_applied_on": row.card_applied_on,
    }
