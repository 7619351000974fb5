"""A seeded simulation of point issuance (TigerBeetle's VOPR idea): one `random.Random(seed)` chooses every
step — applications and their retries, top-ups, the providers' grant.credited / charge.completed /
account.unlinked, expiry, revokes, delivery runs against providers that fail or lose answers, worker crashes,
the passing of lease time, redeliveries — and after each step the invariants (tests/mynapoint/simulation.py)
are read from the tables; at the end every event is delivered and each provider must hold exactly the live
grants. Everything goes through the public HTTP API in process or the worker's own API, on committed
transactions (the `live` fixture), on both databases.

Time is not waited for: a crashed worker's leases (30 s) and the retry delays run out when the simulation
says time passes (their instants are set in the past), and a reservation expires by its expires_at set in the
past, then swept by the worker. So the same seed replays the same run:

    CHIIKI_SIMULATION_SEEDS=7,12 .venv/bin/pytest -q tests/mynapoint/test_simulation.py
"""

import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from common.models import Application, Grant, OutboxEvent, Program
from common.timeutil import aware
from services.mynapoint.settlement import reconcile
from services.mynapoint.worker import DeliveryWorker
from tests.conftest import bearer
from tests.mynapoint.builders import (
    FAST,
    MUNICIPALITY,
    application,
    charge,
    create_program,
    credited,
    fixed_program,
    keyed,
    premium_program,
    redeliver,
    signed,
    unlinked,
)
from tests.mynapoint.simulation import (
    FakeProvider,
    ProviderNetwork,
    WorkerCrashed,
    provider_disagreements,
    read_tables,
    violations,
)

SEEDS = range(1, 25)
LEASE_SECONDS = 30
POINTS = 5_000


def _seeds() -> list[int]:
    chosen = os.environ.get("CHIIKI_SIMULATION_SEEDS")
    return [int(seed) for seed in chosen.split(",")] if chosen else list(SEEDS)


@dataclass
class Resident:
    myki: str
    program: dict
    on_roster: bool = True
    provider: FakeProvider | None = None
    account: str | None = None
    application_id: str | None = None
    unlinked: bool = False
    accounts: int = 0
    keyed: list[tuple[str, dict, dict]] = field(default_factory=list)  # (Idempotency-Key, body, first answer)
    charges: dict[str, str] = field(default_factory=dict)  # charge id -> the grant it reserved


class Simulation:
    def __init__(self, live, seed: int, backend: str):
        self.live, self.seed, self.backend = live, seed, backend
        self.rng = random.Random(seed)
        self.grants: dict[str, Resident] = {}  # every grant the simulation learned of, in the order it did
        self.funded: dict[str, int] = {}
        self.webhooks: list[tuple[FakeProvider, dict, str]] = []  # inbound events sent, to repeat one
        self.trace: list[str] = []

    # --- the world ---------------------------------------------------------------------------------------

    async def setup(self) -> None:
        self.ops, self.muni, self.app = (
            await self.live.key("ops"),
            await self.live.key("municipality", municipality_code=MUNICIPALITY),
            await self.live.key("app"),
        )
        self.providers = [await self._provider(name) for name in ("a", "b")]
        ids = [provider.info["id"] for provider in self.providers]
        fixed_budget = POINTS * self.rng.randint(2, 6)
        fixed = await create_program(
            self.live.client,
            self.muni,
            fixed_program(ids[0], budget=fixed_budget) | {"provider_ids": ids},
            [f"sim-f{n}" for n in range(8)],
        )
        cap, premium_budget = self.rng.choice([3_000, 5_000]), self.rng.choice([6_000, 12_000])
        premium = await create_program(
            self.live.client,
            self.muni,
            premium_program(ids[0], cap=cap, budget=premium_budget),
            [f"sim-p{n}" for n in range(4)],
        )
        self.funded = {fixed["id"]: fixed_budget, premium["id"]: premium_budget}
        self.fixed, self.premium = fixed, premium
        self.residents = (
            [Resident(f"sim-f{n}", fixed) for n in range(8)]
            + [Resident("sim-stranger", fixed, on_roster=False)]
            + [Resident(f"sim-p{n}", premium) for n in range(4)]
        )

    async def _provider(self, name: str) -> FakeProvider:
        host = f"provider-{name}.test"
        answer = await self.live.client.post(
            "/mynapoint/providers",
            headers=bearer(self.ops),
            json={"name": f"シムペイ{name}", "webhook_url": f"http://{host}/hook"},
        )
        assert answer.status_code == 201, answer.text
        return FakeProvider(answer.json(), host)

    def _learn(self, grant_id: str, resident: Resident) -> None:
        self.grants.setdefault(grant_id, resident)

    async def _read(self, query):
        async with self.live.db.sessionmaker() as session:
            return (await session.exec(query.execution_options(populate_existing=True))).all()

    async def _free(self, program: dict) -> int:
        ((budget, reserved, posted),) = await self._read(
            select(Program.budget_yen, Program.reserved_yen, Program.posted_yen).where(Program.id == program["id"])
        )
        return budget - reserved - posted

    async def _status(self, grant_id: str) -> str:
        return (await self._read(select(Grant.status).where(Grant.id == grant_id)))[0]

    # --- applications ------------------------------------------------------------------------------------

    async def apply(self) -> str:
        resident = self.rng.choice(self.residents)
        if resident.account is None or resident.unlinked:
            resident.accounts += 1
            providers = self.providers if resident.program is self.fixed else self.providers[:1]
            provider, account = self.rng.choice(providers), f"acct-{resident.myki}-{resident.accounts}"
        else:
            provider, account = resident.provider, resident.account
        body = application(provider.info["id"], resident.myki, account)
        key = f"idem-{uuid.UUID(int=self.rng.getrandbits(128))}" if self.rng.random() < 0.7 else None
        first, free = resident.application_id is None, await self._free(resident.program)
        answer = await self.live.client.post(
            f"/mynapoint/programs/{resident.program['id']}/applications",
            headers=keyed(self.app, key) if key else bearer(self.app),
            json=body,
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        if key:
            resident.keyed.append((key, body, result))
        self._expect_application(resident, result, first, free)
        if result["application_id"] is not None:
            resident.application_id, resident.unlinked = result["application_id"], False
            resident.provider, resident.account = provider, account
        if result["grant"] is not None:
            self._learn(result["grant"]["id"], resident)
        return f"{resident.myki} via {provider.host} as {account}, key {key}: {result}"

    def _expect_application(self, resident: Resident, result: dict, first: bool, free: int) -> None:
        reasons = [reason["code"] for reason in result["reasons"]]
        if not resident.on_roster:
            assert result["eligible"] is False and result["grant"] is None, result
        elif first and resident.program is self.fixed:
            assert (result["grant"] is not None) == (free >= POINTS), (free, result)
            assert reasons == ([] if free >= POINTS else ["budget_exhausted"]), result
        elif not first:
            refused_relink = resident.unlinked and result["application_id"] is None  # the budget no longer covers it
            assert refused_relink or result["application_id"] == resident.application_id, result

    async def replay(self) -> str:
        """The same Idempotency-Key again: the first answer, whatever happened since; another body: 422."""
        resident = self.rng.choice([resident for resident in self.residents if resident.keyed] or [None])
        if resident is None:
            return "nothing to replay"
        key, body, first = self.rng.choice(resident.keyed)
        changed = self.rng.random() < 0.2
        sent = body | {"provider_account_id": "acct-other"} if changed else body
        answer = await self.live.client.post(
            f"/mynapoint/programs/{resident.program['id']}/applications", headers=keyed(self.app, key), json=sent
        )
        if changed:
            assert answer.status_code == 422 and answer.json()["error"]["code"] == "idempotency_key_reused", answer.text
        else:
            assert (answer.status_code, answer.json(), answer.headers.get("idempotent-replayed")) == (
                200,
                first,
                "true",
            ), answer.text
        return f"{resident.myki} key {key} {'with another body' if changed else 'again'}"

    async def fund(self) -> str:
        program = self.rng.choice([self.fixed, self.premium])
        amount = self.rng.choice([POINTS, 2 * POINTS])
        key = f"fund-{self.rng.getrandbits(64):x}"
        for _ in range(self.rng.choice([1, 1, 2])):  # sometimes a retry with the same key
            answer = await self.live.client.post(
                f"/mynapoint/programs/{program['id']}/funding",
                headers=keyed(self.muni, key),
                json={"amount_yen": amount},
            )
            assert answer.status_code == 200, answer.text
        self.funded[program["id"]] += amount
        return f"{program['id']} +{amount}"

    # --- inbound webhooks --------------------------------------------------------------------------------

    async def _inbound(self, provider: FakeProvider, event: dict) -> dict:
        msg_id = f"msg_sim_{self.rng.getrandbits(64):x}"
        self.webhooks.append((provider, event, msg_id))
        body, headers = signed(provider.info["webhook_secret"], event, msg_id=msg_id)
        answer = await self.live.client.post(
            f"/webhooks/providers/{provider.info['id']}", content=body, headers=headers
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def repeat_webhook(self) -> str:
        """A provider retries a webhook it sent (same webhook-id): recorded once, answered duplicate."""
        if not self.webhooks:
            return "nothing to repeat"
        provider, event, msg_id = self.rng.choice(self.webhooks)
        body, headers = signed(provider.info["webhook_secret"], event, msg_id=msg_id)
        answer = await self.live.client.post(
            f"/webhooks/providers/{provider.info['id']}", content=body, headers=headers
        )
        assert answer.status_code == 200 and answer.json()["duplicate"] is True, answer.text
        return f"{event['type']} {msg_id} again"

    async def credit(self) -> str:
        """A provider credits a grant it was offered (sometimes another provider claims it)."""
        offered = [
            (provider, grant_id)
            for provider in self.providers
            for grant_id in self.grants
            if grant_id in provider.offered
        ]
        if not offered:
            return "no grant offered yet"
        owner, grant_id = self.rng.choice(offered)
        sender = self.rng.choice(self.providers) if self.rng.random() < 0.2 else owner
        status = await self._status(grant_id)
        outcome = (await self._inbound(sender, credited(grant_id)))["outcome"]
        expected = {
            "reserved": "posted",
            "posted": "ignored: grant already posted",
            "voided": "ignored: grant already voided",
            "revoked": "ignored: grant already revoked",
        }[status]
        assert outcome == (expected if sender is owner else "rejected: no such grant for this provider"), status
        return f"{grant_id} ({status}) by {sender.host}: {outcome}"

    async def charge(self) -> str:
        """A charge on the premium program: rate × amount within the cap and the budget, once per charge id."""
        resident = self.rng.choice([resident for resident in self.residents if resident.program is self.premium])
        account = resident.account or f"acct-{resident.myki}-none"
        charge_id = self.rng.choice([*resident.charges, None]) if resident.charges and self.rng.random() < 0.3 else None
        charge_id = charge_id or f"ch-{self.rng.getrandbits(32):x}"
        amount = self.rng.choice([2_000, 4_000, 8_000, 20_000])
        expected = await self._expected_charge(resident, charge_id, amount)
        outcome = (await self._inbound(self.providers[0], charge(self.premium, charge_id, account, amount)))["outcome"]
        assert outcome.startswith(expected), expected
        if outcome.startswith("reserved"):
            grant_id = outcome.rsplit(" ", 1)[1]
            resident.charges[charge_id] = grant_id
            self._learn(grant_id, resident)
        return f"{resident.myki} {charge_id} {amount} yen: {outcome}"

    async def _expected_charge(self, resident: Resident, charge_id: str, amount: int) -> str:
        if resident.application_id is None:
            return "rejected: no application for that account"
        if resident.unlinked:
            return "rejected: account unlinked"
        if charge_id in resident.charges:
            return "ignored: charge already granted"
        (granted,) = await self._read(select(Application.granted_yen).where(Application.id == resident.application_id))
        points = min(amount // 4, self.premium["per_person_cap"] - granted)
        if points <= 0:
            return "ignored: per-person cap reached"
        if await self._free(self.premium) < points:
            return "ignored: budget exhausted"
        return f"reserved {points} points as gr_"

    async def unlink(self) -> str:
        linked = [resident for resident in self.residents if resident.account is not None]
        if not linked:
            return "no account linked yet"
        resident = self.rng.choice(linked)
        reserved = (
            0
            if resident.unlinked
            else len(
                await self._read(
                    select(Grant.id).where(Grant.application_id == resident.application_id, Grant.status == "reserved")
                )
            )
        )
        extra = {"program_id": resident.program["id"]} if self.rng.random() < 0.5 else {}
        outcome = (await self._inbound(resident.provider, unlinked(resident.account, **extra)))["outcome"]
        applications = 0 if resident.unlinked else 1
        assert outcome == (
            f"unlinked {applications} application{'' if applications == 1 else 's'}, "
            f"voided {reserved} grant{'' if reserved == 1 else 's'}"
        )
        resident.unlinked = True
        return f"{resident.myki}'s {resident.account}: {outcome}"

    # --- ops ---------------------------------------------------------------------------------------------

    async def expire(self) -> str:
        """A reservation no provider credited in time: its expiry set in the past, then the worker's sweep."""
        reserved = set(await self._read(select(Grant.id).where(Grant.status == "reserved")))
        candidates = [grant_id for grant_id in self.grants if grant_id in reserved]
        if not candidates:
            return "nothing reserved"
        grant_id = self.rng.choice(candidates)
        async with self.live.db.sessionmaker() as session:
            await session.exec(
                update(Grant).where(Grant.id == grant_id).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
            await session.commit()
        assert await self._worker(ProviderNetwork(self.providers, self.rng, 0)).sweep_expired_reservations() == 1
        return grant_id

    async def revoke(self) -> str:
        if not self.grants:
            return "no grant yet"
        grant_id = self.rng.choice(list(self.grants))
        status = await self._status(grant_id)
        key = f"revoke-{self.rng.getrandbits(64):x}"
        for _ in range(self.rng.choice([1, 1, 2])):
            answer = await self.live.client.post(f"/mynapoint/grants/{grant_id}/revoke", headers=keyed(self.muni, key))
            if status in ("reserved", "posted"):
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == {"reserved": "voided", "posted": "revoked"}[status]
            else:
                assert answer.json()["error"]["code"] == "grant_resolved", answer.text
        return f"{grant_id} ({status})"

    async def redeliver(self) -> str:
        """Ops send a failed (sometimes a delivered) event again; a voided grant is reserved again as a new one."""
        wanted = "failed" if self.rng.random() < 0.8 else "delivered"
        event_type = self.rng.choice(["grant.created", "grant.created", "grant.revoked"])
        events = dict(
            await self._read(
                select(OutboxEvent.grant_id, OutboxEvent.id).where(
                    OutboxEvent.status == wanted, OutboxEvent.event_type == event_type
                )
            )
        )
        candidates = [grant_id for grant_id in self.grants if grant_id in events]
        if not candidates:
            return f"no {wanted} {event_type}"
        grant_id = self.rng.choice(candidates)
        answer = await redeliver(self.live.client, self.ops, events[grant_id])
        if answer.status_code == 200:
            self._learn(answer.json()["grant_id"], self.grants[grant_id])
        else:
            assert answer.status_code in (409, 422) and answer.json()["error"]["code"] in (
                "grant_resolved",
                "grant_superseded",
                "already_redelivered",
                "budget_exhausted",
                "account_unlinked",
                "per_person_cap_reached",
            ), answer.text
        return f"{wanted} {event_type} of {grant_id}: {answer.status_code} {answer.text[:160]}"

    # --- the delivery worker -----------------------------------------------------------------------------

    def _worker(self, network: ProviderNetwork) -> DeliveryWorker:
        return DeliveryWorker(
            self.live.db,
            self.live.settings,
            client=network.client(),
            schedule=FAST,
            lease_seconds=LEASE_SECONDS,
            rng=random.Random(self.seed),
        )

    async def _leased(self) -> set[str]:
        now = datetime.now(UTC)
        return {
            event_id
            for event_id, until in await self._read(
                select(OutboxEvent.id, OutboxEvent.lease_until).where(OutboxEvent.lease_until.is_not(None))
            )
            if aware(until) > now
        }

    async def deliver(self, fail: float | None = None) -> str:
        """Worker runs against providers failing with a seeded probability; a dead worker's events stay its own."""
        fail = self.rng.choice([0, 0.2, 0.5]) if fail is None else fail
        leased, sent = await self._leased(), []
        for _ in range(self.rng.randint(1, 3)):
            network = ProviderNetwork(self.providers, self.rng, fail)
            await self._worker(network).run_once()
            sent += network.arrivals
        assert not leased & set(sent), f"sent under another worker's live lease: {leased & set(sent)}"
        return f"{len(sent)} sent, failing {fail}"

    async def crash(self) -> str:
        """A worker dies mid-batch: what it sent before may have landed, and nothing of the batch is recorded."""
        network = ProviderNetwork(self.providers, self.rng, 0.2, crash_at=self.rng.randint(1, 3))
        try:
            attempted = await self._worker(network).run_once()
        except WorkerCrashed:
            return f"crashed at request {len(network.arrivals)}"
        return f"{attempted} sent, and the worker died after its batch"

    async def time_passes(self) -> str:
        """Every lease and every retry delay runs out (a dead worker's events become claimable again)."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        async with self.live.db.sessionmaker() as session:
            await session.exec(update(OutboxEvent).where(OutboxEvent.lease_until.is_not(None)).values(lease_until=past))
            await session.exec(
                update(OutboxEvent)
                .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at > past)
                .values(next_attempt_at=past)
            )
            await session.commit()
        return "leases and retry delays ran out"

    # --- the run -----------------------------------------------------------------------------------------

    OPERATIONS = {
        "apply": 7,
        "replay": 2,
        "fund": 1,
        "credit": 4,
        "repeat_webhook": 1,
        "charge": 3,
        "unlink": 2,
        "expire": 1,
        "revoke": 2,
        "redeliver": 2,
        "deliver": 5,
        "crash": 1,
        "time_passes": 1,
    }

    async def run(self) -> None:
        await self.setup()
        names, weights = list(self.OPERATIONS), list(self.OPERATIONS.values())
        steps = self.rng.randint(40, 80)
        for step in range(1, steps + 1):
            name = self.rng.choices(names, weights)[0]
            await self._step(step, name, getattr(self, name))
            await self._step(step, f"{name}: invariants", self.check)
        await self._step(steps + 1, "drain", self.drain)

    async def _step(self, step: int, name: str, operation) -> None:
        try:
            self.trace.append(f"{step} {name}: {await operation() or ''}")
        except Exception as error:
            backend = f"{self.backend} ({'CHIIKI_TEST_DATABASE_URL set' if self.backend == 'postgresql' else ''})"
            raise AssertionError(
                f"simulation seed {self.seed} failed at step {step} ({name}) on {backend}: {error!r}\n"
                f"replay: CHIIKI_SIMULATION_SEEDS={self.seed} .venv/bin/pytest -q -p no:cacheprovider "
                f"tests/mynapoint/test_simulation.py -k on-{self.backend}\nlast steps:\n  "
                + "\n  ".join(self.trace[-12:])
            ) from error

    async def check(self) -> str:
        async with self.live.db.sessionmaker() as session:
            problems = violations(await read_tables(session), self.funded) + await reconcile(session)
        assert not problems, problems
        return ""

    async def drain(self) -> str:
        """Ops redeliver every failed grant.revoked, time passes and every event is delivered; then each provider
        holds exactly its live grants."""
        for event_id in await self._read(
            select(OutboxEvent.id).where(OutboxEvent.status == "failed", OutboxEvent.event_type == "grant.revoked")
        ):
            answer = await redeliver(self.live.client, self.ops, event_id)
            assert answer.status_code == 200, answer.text
        for _ in range(10):
            await self.time_passes()
            network = ProviderNetwork(self.providers, self.rng, 0)
            if not await self._worker(network).run_once():
                break
        async with self.live.db.sessionmaker() as session:
            tables = await read_tables(session)
        problems = violations(tables, self.funded) + provider_disagreements(self.providers, tables)
        assert not problems, problems
        return f"{len(self.grants)} grants"


@pytest.mark.parametrize("seed", _seeds(), ids=lambda seed: f"seed-{seed}")
async def test_the_seeded_simulation_keeps_every_invariant(seed, live, database_url):
    await Simulation(live, seed, "sqlite" if database_url.startswith("sqlite") else "postgresql").run()
