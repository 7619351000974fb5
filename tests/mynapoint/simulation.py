"""The parts of the seeded mynapoint simulation (tests/mynapoint/test_simulation.py) that are not operations:
fake providers behind an in-process transport whose failures the seed decides, and the invariants, read
independently of the service's own code (plain selects of the tables, not repository or reconcile).
"""

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from common.models import Application, Grant, LedgerEntry, OutboxEvent, Program

# A grant's ledger rows, by its status.
LEDGER_OF_STATUS = {
    "reserved": Counter(reserve=1),
    "posted": Counter(reserve=1, post=1),
    "voided": Counter(reserve=1, void=1),
    "revoked": Counter(reserve=1, post=1, revoke=1),
}
# The signed (reserved, posted) change of each grant movement, in units of the grant's points.
SIGNS = {"reserve": (1, 0), "post": (-1, 1), "void": (-1, 0), "revoke": (0, -1)}
LIVE = ("reserved", "posted")


class WorkerCrashed(Exception):
    """The delivery worker's process died mid-batch: nothing after this point of its run happens."""


@dataclass
class FakeProvider:
    """A payment provider's endpoint: verifies each webhook, applies each webhook-id once, and remembers which
    grants it holds (offered by grant.created, not withdrawn by grant.revoked) in the order it got them."""

    info: dict  # the provider as created: id, webhook_secret
    host: str
    holds: dict[str, None] = field(default_factory=dict)
    offered: dict[str, None] = field(default_factory=dict)  # every grant it was ever offered
    applied: set[str] = field(default_factory=set)

    def receive(self, request: httpx.Request) -> None:
        payload = Webhook(self.info["webhook_secret"]).verify(request.content, dict(request.headers))
        webhook_id = request.headers["webhook-id"]
        if webhook_id in self.applied:
            return
        self.applied.add(webhook_id)
        grant_id = payload["data"]["grant_id"]
        if payload["type"] == "grant.created":
            self.holds[grant_id] = None
            self.offered[grant_id] = None
        elif payload["type"] == "grant.revoked":
            self.holds.pop(grant_id, None)


class ProviderNetwork:
    """The providers' endpoints for one worker run: each request fails with probability `fail` (half of the
    failures a 503 before the provider applies it, half a response lost after it did), and from the
    `crash_at`-th request on the worker is dead (the crashing request reached the provider or not, by the seed)."""

    def __init__(self, providers: list[FakeProvider], rng: random.Random, fail: float, crash_at: int | None = None):
        self.by_host = {provider.host: provider for provider in providers}
        self.rng, self.fail, self.crash_at = rng, fail, crash_at
        self.arrivals: list[str] = []
        self.crashed = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        provider = self.by_host[request.url.host]
        if self.crashed:
            raise WorkerCrashed
        self.arrivals.append(request.headers["webhook-id"])
        if len(self.arrivals) == self.crash_at:
            self.crashed = True
            if self.rng.random() < 0.5:
                provider.receive(request)
            raise WorkerCrashed
        roll = self.rng.random()
        if roll < self.fail / 2:
            return httpx.Response(503)
        provider.receive(request)
        if roll < self.fail:
            raise httpx.ReadTimeout("the provider's answer was lost", request=request)
        return httpx.Response(204)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


# --- invariants ------------------------------------------------------------------------------------------


@dataclass
class Tables:
    programs: list
    ledger: list
    grants: list
    applications: list
    outbox: list


async def read_tables(session) -> Tables:
    async def rows(*columns):
        return list((await session.exec(select(*columns))).all())

    return Tables(
        await rows(
            Program.id,
            Program.kind,
            Program.budget_yen,
            Program.reserved_yen,
            Program.posted_yen,
            Program.per_person_cap,
        ),
        await rows(
            LedgerEntry.program_id,
            LedgerEntry.grant_id,
            LedgerEntry.kind,
            LedgerEntry.budget_delta,
            LedgerEntry.reserved_delta,
            LedgerEntry.posted_delta,
        ),
        await rows(
            Grant.id,
            Grant.program_id,
            Grant.application_id,
            Grant.provider_id,
            Grant.myki_hash,
            Grant.points,
            Grant.status,
        ),
        await rows(Application.id, Application.program_id, Application.granted_yen),
        await rows(
            OutboxEvent.id,
            OutboxEvent.provider_id,
            OutboxEvent.event_type,
            OutboxEvent.grant_id,
            OutboxEvent.status,
            OutboxEvent.attempts,
            OutboxEvent.last_error,
        ),
    )


def violations(tables: Tables, funded: dict[str, int]) -> list[str]:
    """Every invariant that does not hold; `funded` is what the simulation put into each program's budget."""
    return [*_money(tables, funded), *_grants(tables), *_outbox(tables)]


def _money(tables: Tables, funded: dict[str, int]) -> list[str]:
    problems = []
    ledger: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for program_id, _grant, _kind, budget, reserved, posted in tables.ledger:
        for index, delta in enumerate((budget, reserved, posted)):
            ledger[program_id][index] += delta
    by_grants: dict[tuple[str, str], int] = defaultdict(int)
    for _id, program_id, _app, _provider, _myki, points, status in tables.grants:
        by_grants[program_id, status] += points
    for program_id, _kind, budget, reserved, posted, _cap in tables.programs:
        if reserved < 0 or posted < 0 or reserved + posted > budget:
            problems.append(f"{program_id}: budget {budget} < reserved {reserved} + posted {posted}, or one < 0")
        if [budget, reserved, posted] != ledger[program_id]:
            problems.append(
                f"{program_id}: balances {(budget, reserved, posted)} but the ledger sums to "
                f"{tuple(ledger[program_id])}"
            )
        if (reserved, posted) != (by_grants[program_id, "reserved"], by_grants[program_id, "posted"]):
            problems.append(
                f"{program_id}: (reserved, posted) {(reserved, posted)} but the live grants sum to "
                f"{(by_grants[program_id, 'reserved'], by_grants[program_id, 'posted'])}"
            )
        if budget != funded.get(program_id):
            problems.append(f"{program_id}: budget {budget} but the simulation funded {funded.get(program_id)}")
    return problems


def _grants(tables: Tables) -> list[str]:
    """Each grant's ledger rows match its status and points; no resident holds two live fixed grants; each
    premium application's granted total is what its live grants hold, within the cap."""
    problems = []
    kinds = {program_id: kind for program_id, kind, *_ in tables.programs}
    rows_of: dict[str | None, list[tuple[str, int, int, int]]] = defaultdict(list)
    for _program, grant_id, kind, budget, reserved, posted in tables.ledger:
        rows_of[grant_id].append((kind, budget, reserved, posted))
    live_fixed: Counter[tuple[str, str]] = Counter()
    held: Counter[str] = Counter()
    for grant_id, program_id, application_id, _provider, myki, points, status in tables.grants:
        problems += _ledger_of_grant(grant_id, status, points, rows_of.pop(grant_id, []))
        if status in LIVE:
            live_fixed[program_id, myki] += kinds[program_id] == "fixed"
            held[application_id] += points
    problems += [
        f"{program_id}: a resident holds {count} live fixed grants"
        for (program_id, _myki), count in live_fixed.items()
        if count > 1
    ]
    fund_rows = rows_of.pop(None, [])
    problems += [f"a ledger row {row} of no grant" for row in fund_rows if row[0] != "fund" or any(row[2:])]
    problems += [f"ledger rows {rows} of a missing grant {grant_id}" for grant_id, rows in rows_of.items()]
    return problems + _premium_totals(tables, held)


def _ledger_of_grant(grant_id: str, status: str, points: int, rows: list[tuple[str, int, int, int]]) -> list[str]:
    kinds = Counter(kind for kind, *_ in rows)
    problems = [] if kinds == LEDGER_OF_STATUS[status] else [f"{grant_id} is {status} but has ledger rows {kinds}"]
    return problems + [
        f"{grant_id}'s {kind} row moves {(budget, reserved, posted)} for {points} points"
        for kind, budget, reserved, posted in rows
        if (budget, reserved, posted) != (0, SIGNS[kind][0] * points, SIGNS[kind][1] * points)
    ]


def _premium_totals(tables: Tables, held: Counter[str]) -> list[str]:
    premium = {program_id: cap for program_id, kind, _b, _r, _p, cap in tables.programs if kind == "premium"}
    return [
        f"{application_id}: granted_yen {granted} but its live grants hold {held[application_id]} "
        f"(cap {premium[program_id]})"
        for application_id, program_id, granted in tables.applications
        if program_id in premium and (granted != held[application_id] or granted > premium[program_id])
    ]


def _outbox(tables: Tables) -> list[str]:
    problems = []
    grants = {grant_id: (provider_id, status) for grant_id, _p, _a, provider_id, _m, _pts, status in tables.grants}
    events: dict[str, Counter[str]] = defaultdict(Counter)
    created_status = {}
    for event_id, provider_id, event_type, grant_id, status, *_ in tables.outbox:
        if grant_id not in grants or grants[grant_id][0] != provider_id:
            problems.append(f"{event_type} {event_id} to {provider_id} is about no grant of that provider ({grant_id})")
            continue
        events[grant_id][event_type] += 1
        if event_type == "grant.created":
            created_status[grant_id] = status
    for grant_id, (_provider, status) in grants.items():
        sent = events[grant_id]
        if sent["grant.created"] != 1 or sent["grant.revoked"] > 1 or set(sent) - {"grant.created", "grant.revoked"}:
            problems.append(f"{grant_id} ({status}) has events {dict(sent)}")
        if sent["grant.revoked"] and status in LIVE:
            problems.append(f"{grant_id} is {status} but grant.revoked was sent")
        if status == "reserved" and created_status.get(grant_id) not in ("pending", "delivered"):
            problems.append(f"{grant_id} is reserved but its grant.created is {created_status.get(grant_id)}")
    return problems


def provider_disagreements(providers: list[FakeProvider], tables: Tables) -> list[str]:
    """Once every event is delivered: each provider holds exactly the grants of its own that are live."""
    problems = []
    for provider in providers:
        live = {
            grant_id
            for grant_id, _p, _a, provider_id, _m, _pts, status in tables.grants
            if provider_id == provider.info["id"] and status in LIVE
        }
        status = {grant_id: status for grant_id, *_, status in tables.grants}
        problems += [
            f"{provider.host} holds {grant_id}, which is {status.get(grant_id)}; its events "
            f"{[event[2:] for event in tables.outbox if event[3] == grant_id]}"
            for grant_id in provider.holds
            if grant_id not in live
        ]
        problems += [
            f"{provider.host} never got {grant_id}, which is {status[grant_id]}"
            for grant_id in sorted(live - set(provider.holds))
        ]
    return problems
