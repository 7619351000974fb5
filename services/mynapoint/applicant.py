"""The read a resident's application starts with: the program's terms, the resident's roster entry and any
earlier application, in one driver-level query (common/driver_sql.py) that the Idempotency-Key claim can carry in
its own round trip."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, select

from common.driver_sql import DriverStatement, Outcome
from services.mynapoint.statements import APPLICATION, PROGRAM, ROSTER

APPLICANT = DriverStatement(
    lambda _dialect: (
        select(
            PROGRAM.c.kind,
            PROGRAM.c.points_per_person,
            PROGRAM.c.provider_ids,
            PROGRAM.c.eligibility,
            PROGRAM.c.opens_at,
            PROGRAM.c.closes_at,
            PROGRAM.c.status,
            APPLICATION.c.id,
            ROSTER.c.myki_hash,
            ROSTER.c.birth_date,
            ROSTER.c.household_with_children,
            ROSTER.c.income_band,
            ROSTER.c.activity_participation,
            ROSTER.c.card_applied_on,
        )
        .select_from(PROGRAM)
        .outerjoin(
            APPLICATION,
            and_(APPLICATION.c.program_id == PROGRAM.c.id, APPLICATION.c.myki_hash == bindparam("myki_hash")),
        )
        .outerjoin(ROSTER, and_(ROSTER.c.program_id == PROGRAM.c.id, ROSTER.c.myki_hash == bindparam("myki_hash")))
        .where(PROGRAM.c.id == bindparam("program_id"))
    )
)


@dataclass(frozen=True, slots=True)
class ProgramTerms:
    """What an application needs of its program, as APPLICANT reads it (plain values, no ORM object)."""

    id: str
    kind: str
    points_per_person: int | None
    provider_ids: list[str]
    eligibility: dict[str, Any]
    opens_at: datetime
    closes_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class ResidentAttributes:
    """A roster entry's attributes that eligibility looks at, as APPLICANT reads them."""

    birth_date: date | None
    household_with_children: bool
    income_band: int | None
    activity_participation: bool
    card_applied_on: date | None


@dataclass(frozen=True, slots=True)
class Applicant:
    """What APPLICANT read: the program's terms, the resident's roster entry (None: not on the roster) and
    the id of the resident's earlier application, if any."""

    program: ProgramTerms
    entry: ResidentAttributes | None
    earlier_application_id: str | None


def applicant_from(outcome: Outcome, program_id: str) -> Applicant | None:
    """None when there is no such program."""
    row = outcome.row
    if row is None:
        return None
    (
        kind,
        points,
        provider_ids,
        eligibility,
        opens_at,
        closes_at,
        status,
        application_id,
        roster_hash,
        birth_date,
        children,
        income_band,
        activity,
        card_applied_on,
    ) = row
    program = ProgramTerms(program_id, kind, points, provider_ids, eligibility, opens_at, closes_at, status)
    entry = (
        None
        if roster_hash is None
        else ResidentAttributes(birth_date, children, income_band, activity, card_applied_on)
    )
    return Applicant(program, entry, application_id)
