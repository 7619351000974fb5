"""The point-issuance service's driver-level SQL (common/driver_sql.py): every money write, and the reads of
the hot paths. Each statement here is the only implementation of its write; services/mynapoint/ledger.py
names the money movements they make up."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    String,
    Table,
    and_,
    bindparam,
    case,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel

from common.driver_sql import BulkUpsert, DriverStatement
from common.models import (
    Application,
    Grant,
    IdempotencyRecord,
    InboundWebhook,
    LedgerEntry,
    OutboxEvent,
    Program,
    Provider,
    RosterEntry,
)
from common.models.mynapoint import GrantStatus, LedgerKind
from services.mynapoint.outcomes import NOT_POSTED, WebhookOutcome


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # SQLModel sets __table__ without declaring it


PROGRAM, GRANT, LEDGER, INBOUND = _table(Program), _table(Grant), _table(LedgerEntry), _table(InboundWebhook)
APPLICATION, OUTBOX, IDEMPOTENCY = _table(Application), _table(OutboxEvent), _table(IdempotencyRecord)
PROVIDER, ROSTER = _table(Provider), _table(RosterEntry)


def _values(table: Table, *names: str) -> dict[str, Any]:
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


def _insert_or_nothing(dialect: str, table: Table) -> Any:
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)


def _now() -> Any:
    return bindparam("now", type_=DateTime(timezone=True))


# --- rows ------------------------------------------------------------------------------------------------

# No ON CONFLICT: a resident who already applied fails the batch (UNIQUE program, resident), so nothing of it
# is written, the remembered response included; on PostgreSQL a concurrent insert for the same resident waits
# for the first transaction and then fails.
INSERT_APPLICATION = DriverStatement(
    lambda _dialect: insert(APPLICATION).values(
        _values(
            APPLICATION,
            "id",
            "program_id",
            "myki_hash",
            "provider_id",
            "provider_account_id",
            "granted_yen",
            "request_id",
            "created_at",
        )
    )
)

INSERT_GRANT = DriverStatement(
    lambda _dialect: insert(GRANT).values(
        _values(
            GRANT,
            "id",
            "program_id",
            "application_id",
            "provider_id",
            "myki_hash",
            "source",
            "points",
            "status",
            "expires_at",
            "created_at",
        )
    )
)

LEDGER_COLUMNS = (
    "program_id",
    "grant_id",
    "provider_id",
    "kind",
    "budget_delta",
    "reserved_delta",
    "posted_delta",
    "request_id",
    "created_at",
)
INSERT_LEDGER_ENTRY = DriverStatement(lambda _dialect: insert(LEDGER).values(_values(LEDGER, *LEDGER_COLUMNS)))

INSERT_OUTBOX_EVENT = DriverStatement(
    lambda _dialect: insert(OUTBOX).values(
        _values(
            OUTBOX,
            "id",
            "provider_id",
            "event_type",
            "grant_id",
            "body",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
        )
    )
)


# The roster: a resident already on it gets the new attributes (all rows of one upload at once).
UPSERT_ROSTER = BulkUpsert(
    ROSTER,
    ("program_id", "myki_hash"),
    (
        "program_id",
        "myki_hash",
        "entry_id",
        "birth_date",
        "household_with_children",
        "income_band",
        "activity_participation",
        "card_applied_on",
        "updated_at",
    ),
    insert_only=("entry_id",),
)


# --- balances --------------------------------------------------------------------------------------------

# The budget guard, the only one: the program's CHECK constraint refuses a reservation the budget does not
# cover, which fails the statement (and a batch with it, so a COMMIT queued behind it never happens).
BUDGET_CONSTRAINT = "ck_program_within_budget"
RESERVE = DriverStatement(
    lambda _dialect: (
        update(PROGRAM)
        .where(PROGRAM.c.id == bindparam("program_id"))
        .values(reserved_yen=PROGRAM.c.reserved_yen + bindparam("points", type_=BigInteger))
    )
)

FUND = DriverStatement(
    lambda _dialect: (
        update(PROGRAM)
        .where(PROGRAM.c.id == bindparam("program_id"))
        .values(budget_yen=PROGRAM.c.budget_yen + bindparam("amount", type_=BigInteger))
    )
)


class GrantMovement:
    """A grant's move from one status to another and its money, as three conditional statements: the grant
    moves only from `before` (once: only one transaction finds it there), and its ledger row and the program's
    balances (reserved and posted each changed by `sign` × the grant's points) follow only when this very run
    moved it, which it knows by the grant's resolved_at being the run's own `now`."""

    def __init__(
        self,
        kind: LedgerKind,
        before: GrantStatus,
        after: GrantStatus,
        *,
        reserved_sign: int,
        posted_sign: int,
        by_provider: bool = False,
    ):
        self.kind, self.before, self.after = kind, before, after
        self.signs = {"reserved": reserved_sign, "posted": posted_sign}
        self.move = DriverStatement(lambda _dialect: self._move(by_provider))
        self.ledger_row = DriverStatement(lambda _dialect: self._ledger_row())
        self.balances = DriverStatement(lambda _dialect: self._balances())

    def moved(self) -> ColumnElement[bool]:
        return and_(
            GRANT.c.id == bindparam("grant_id", type_=String),
            GRANT.c.status == literal(self.after.value),
            GRANT.c.resolved_at == _now(),
        )

    def _signed_points(self, balance: str) -> ColumnElement[int]:
        sign = self.signs[balance]
        return literal(0, BigInteger) if sign == 0 else GRANT.c.points * literal(sign, BigInteger)

    def _move(self, by_provider: bool) -> Any:
        conditions = [GRANT.c.id == bindparam("grant_id", type_=String), GRANT.c.status == literal(self.before.value)]
        if by_provider:
            conditions.append(GRANT.c.provider_id == bindparam("provider_id", type_=String))
        return update(GRANT).where(*conditions).values(status=literal(self.after.value), resolved_at=_now())

    def _ledger_row(self) -> Any:
        return insert(LEDGER).from_select(
            list(LEDGER_COLUMNS),
            select(
                GRANT.c.program_id,
                GRANT.c.id,
                GRANT.c.provider_id,
                literal(self.kind.value, String),
                literal(0, BigInteger),
                self._signed_points("reserved"),
                self._signed_points("posted"),
                bindparam("request_id", type_=String),
                _now(),
            ).where(self.moved()),
        )

    def _balances(self) -> Any:
        changes = {
            f"{balance}_yen": PROGRAM.c[f"{balance}_yen"]
            + select(self._signed_points(balance)).where(self.moved()).scalar_subquery()
            for balance, sign in self.signs.items()
            if sign
        }
        return (
            update(PROGRAM)
            .where(PROGRAM.c.id == select(GRANT.c.program_id).where(self.moved()).scalar_subquery())
            .values(**changes)
        )


# --- Idempotency-Key ---------------------------------------------------------------------------------------

CLAIM_IDEMPOTENCY_KEY = DriverStatement(
    lambda dialect: (
        _insert_or_nothing(dialect, IDEMPOTENCY)
        .values(_values(IDEMPOTENCY, "id", "request_hash", "created_at"))
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(IDEMPOTENCY.c.id)
    )
)

REMEMBER_RESPONSE = DriverStatement(
    lambda _dialect: (
        update(IDEMPOTENCY)
        .where(IDEMPOTENCY.c.id == bindparam("id"))
        .values(response_status=bindparam("response_status"), response_body=bindparam("response_body"))
    )
)

# A claim whose request never finished, taken over; and a failed request's claim, released.
TAKE_OVER_CLAIM = DriverStatement(
    lambda _dialect: (
        update(IDEMPOTENCY)
        .where(
            IDEMPOTENCY.c.id == bindparam("id"),
            IDEMPOTENCY.c.response_status.is_(None),
            IDEMPOTENCY.c.created_at < bindparam("abandoned_before", type_=DateTime(timezone=True)),
        )
        .values(created_at=_now())
    )
)

RELEASE_CLAIM = DriverStatement(
    lambda _dialect: IDEMPOTENCY.delete().where(
        IDEMPOTENCY.c.id == bindparam("id"), IDEMPOTENCY.c.response_status.is_(None)
    )
)


# --- inbound webhooks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderSecrets:
    """What verifying a provider's webhook needs of it, as PROVIDER_SECRETS reads it."""

    webhook_secret: str | None
    previous_webhook_secret: str | None
    previous_secret_expires_at: datetime | None


PROVIDER_SECRETS = DriverStatement(
    lambda _dialect: select(
        PROVIDER.c.webhook_secret, PROVIDER.c.previous_webhook_secret, PROVIDER.c.previous_secret_expires_at
    ).where(PROVIDER.c.id == bindparam("provider_id"))
)

# The inbound record, first with its outcome unknown (RECEIVED): a repeated webhook-id inserts nothing.
RECORD_INBOUND = DriverStatement(
    lambda dialect: (
        _insert_or_nothing(dialect, INBOUND)
        .values(_values(INBOUND, "provider_id", "webhook_id", "event_type", "outcome", "received_at"))
        .on_conflict_do_nothing(index_elements=["provider_id", "webhook_id"])
        .returning(INBOUND.c.webhook_id)
    )
)

SET_INBOUND_OUTCOME = DriverStatement(
    lambda _dialect: (
        update(INBOUND)
        .where(INBOUND.c.provider_id == bindparam("provider_id"), INBOUND.c.webhook_id == bindparam("webhook_id"))
        .values(outcome=bindparam("outcome"))
    )
)


def record_credit(post: GrantMovement) -> DriverStatement:
    """The inbound record of a grant.credited, with the outcome of `post` in the same batch; a repeated
    webhook-id fails the batch (primary key). The outcomes are WebhookOutcome's, sent as parameters."""

    def build(_dialect: str) -> Any:
        status = (
            select(GRANT.c.status)
            .where(
                GRANT.c.id == bindparam("grant_id", type_=String),
                GRANT.c.provider_id == bindparam("provider_id", type_=String),
            )
            .scalar_subquery()
        )
        not_posted = case(
            *((status == literal(was.value), literal(outcome.value)) for was, outcome in NOT_POSTED.items()),
            else_=literal(WebhookOutcome.NO_SUCH_GRANT.value),
        )
        outcome = case(
            (select(GRANT.c.id).where(post.moved()).exists(), literal(WebhookOutcome.POSTED.value)), else_=not_posted
        )
        return (
            insert(INBOUND)
            .from_select(
                ["provider_id", "webhook_id", "event_type", "outcome", "received_at"],
                select(
                    bindparam("provider_id", type_=String),
                    bindparam("webhook_id", type_=String),
                    literal("grant.credited", String),
                    outcome,
                    _now(),
                ),
            )
            .returning(INBOUND.c.outcome)
        )

    return DriverStatement(build)
