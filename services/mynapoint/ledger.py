"""Every movement of a program's money, each in exactly one place; docs/ledger.md maps them.

A movement is one change of the program's balances and its one append-only ledger row, written together by
driver-level statements (services/mynapoint/statements.py) in the caller's transaction or in the caller's
committing batch, so the committed totals always equal the ledger:

- fund: budget + amount (a program's initial budget, a top-up);
- reserve: reserved + points, with the grant it reserves (services/mynapoint/grants.py writes the grant);
- post: reserved − points, posted + points (grant.credited);
- void: reserved − points (expiry, account.unlinked, a final delivery failure, a revoke before credit);
- revoke: posted − points (a credited grant taken back).

The budget is guarded once, by the program's CHECK constraint, which refuses a reservation it does not cover.
"""

from datetime import datetime
from typing import Any

from common.driver_sql import Batch, DriverConnection
from common.models.mynapoint import GrantStatus, LedgerKind
from common.requestid import current_request_id
from common.timeutil import utcnow
from services.mynapoint.statements import (
    BUDGET_CONSTRAINT,
    FUND,
    INSERT_LEDGER_ENTRY,
    RESERVE,
    GrantMovement,
    record_credit,
)

POST = GrantMovement(
    LedgerKind.post, GrantStatus.reserved, GrantStatus.posted, reserved_sign=-1, posted_sign=1, by_provider=True
)
VOID = GrantMovement(LedgerKind.void, GrantStatus.reserved, GrantStatus.voided, reserved_sign=-1, posted_sign=0)
REVOKE = GrantMovement(LedgerKind.revoke, GrantStatus.posted, GrantStatus.revoked, reserved_sign=0, posted_sign=-1)
RECORD_CREDIT = record_credit(POST)


class BudgetExhausted(Exception):
    """The program's budget does not cover a reservation; its transaction (or savepoint) must be undone."""


def _entry(
    program_id: str,
    kind: LedgerKind,
    *,
    budget: int = 0,
    reserved: int = 0,
    grant: dict[str, Any] | None = None,
    now: datetime,
) -> tuple[Any, dict[str, Any]]:
    return (
        INSERT_LEDGER_ENTRY,
        {
            "program_id": program_id,
            "grant_id": grant["id"] if grant else None,
            "provider_id": grant["provider_id"] if grant else None,
            "kind": kind.value,
            "budget_delta": budget,
            "reserved_delta": reserved,
            "posted_delta": 0,
            "request_id": current_request_id(),
            "created_at": now,
        },
    )


# --- fund ------------------------------------------------------------------------------------------------


async def fund(sql: DriverConnection, program_id: str, amount: int) -> None:
    await sql.run_all(
        [
            (FUND, {"program_id": program_id, "amount": amount}),
            _entry(program_id, LedgerKind.fund, budget=amount, now=utcnow()),
        ]
    )


# --- reserve ---------------------------------------------------------------------------------------------


def reservation_entry(grant: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The reserve ledger row of a grant being written (the grant's own row comes first)."""
    return _entry(
        grant["program_id"], LedgerKind.reserve, reserved=grant["points"], grant=grant, now=grant["created_at"]
    )


def reservation_balance(grant: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The reserve's balance change. Last in its batch: it locks the program row that every grant of the
    program contends for, and the CHECK constraint refuses it when the budget does not cover it."""
    return (RESERVE, {"program_id": grant["program_id"], "points": grant["points"]})


def budget_refused(sql: DriverConnection, error: Exception) -> bool:
    return sql.violated_constraint(error) == BUDGET_CONSTRAINT


async def reserve(sql: DriverConnection, rows: Batch, grant: dict[str, Any]) -> None:
    """`rows` (the grant's, from grants.grant_rows) and the reservation, in the caller's transaction;
    BudgetExhausted when the budget does not cover it (other constraint failures raise as the driver's)."""
    try:
        await sql.run_all([*rows, reservation_balance(grant)])
    except sql.integrity_error as error:
        if budget_refused(sql, error):
            raise BudgetExhausted from None
        raise


# --- post, void, revoke ----------------------------------------------------------------------------------


def movement(move: GrantMovement, grant_id: str, now: datetime, **extra: str) -> Batch:
    """A grant transition's batch: the grant moves (once), then its ledger row and balances if it did."""
    values = {"grant_id": grant_id, "now": now, "request_id": current_request_id(), **extra}
    return [(move.move, values), (move.ledger_row, values), (move.balances, values)]


async def move_grant(sql: DriverConnection, move: GrantMovement, grant_id: str, **extra: str) -> bool:
    """In the caller's transaction; true when this call moved the grant (only one transaction ever does)."""
    moved, *_ = await sql.run_all(movement(move, grant_id, utcnow(), **extra))
    return moved.rowcount == 1
