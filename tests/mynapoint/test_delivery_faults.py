"""A flaky provider and a worker killed mid-batch: every event is still delivered, and a provider that
dedupes by webhook-id applies each exactly once. Several workers at once never send one event concurrently."""

import asyncio
import random

import httpx
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from common.models import OutboxEvent
from services.mynapoint.worker import DeliveryWorker
from tests.conftest import bearer
from tests.mynapoint.builders import MUNICIPALITY, application, create_provider, fixed_program, resident

EVENTS = 30
SCHEDULE = (0,) + (0.02,) * 11  # twelve quick attempts: 0.3**12 makes a final failure practically impossible


class FlakyProvider:
    def __init__(self, secret: str, seed: int):
        self.webhook = Webhook(secret)
        self.rng = random.Random(seed)
        self.applied: dict[str, int] = {}
        self.requests = 0
        self.in_flight: set[str] = set()
        self.overlaps = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.webhook.verify(request.content, dict(request.headers))
        msg_id = request.headers["webhook-id"]
        self.requests += 1
        self.overlaps += msg_id in self.in_flight
        self.in_flight.add(msg_id)
        try:
            roll = self.rng.random()
            if roll < 0.1:
                await asyncio.sleep(0.3)
                raise httpx.ReadTimeout("provider too slow", request=request)
            if roll < 0.3:
                return httpx.Response(500)
            await asyncio.sleep(0.01)
            self.applied[msg_id] = self.applied.get(msg_id, 0) + (msg_id not in self.applied)
            return httpx.Response(200)
        finally:
            self.in_flight.discard(msg_id)


async def _events(live) -> tuple[dict, set[str]]:
    ops = await live.key("ops")
    muni = await live.key("municipality", municipality_code=MUNICIPALITY)
    app = await live.key("app")
    provider = await create_provider(live.client, ops)
    program = (
        await live.client.post(
            "/mynapoint/programs", headers=bearer(muni), json=fixed_program(provider["id"], budget=EVENTS * 5_000)
        )
    ).json()
    await live.client.post(
        f"/mynapoint/programs/{program['id']}/roster",
        headers=bearer(muni),
        json={"residents": [resident(f"fault-{n}") for n in range(EVENTS)]},
    )
    for n in range(EVENTS):
        await live.client.post(
            f"/mynapoint/programs/{program['id']}/applications",
            headers=bearer(app),
            json=application(provider["id"], f"fault-{n}"),
        )
    async with live.db.sessionmaker() as session:
        ids = set((await session.exec(select(OutboxEvent.id))).all())
    assert len(ids) == EVENTS
    return provider, ids


async def test_every_event_arrives_exactly_once_despite_faults_and_a_killed_worker(live):
    provider, ids = await _events(live)
    flaky = FlakyProvider(provider["webhook_secret"], seed=30)
    client = httpx.AsyncClient(transport=httpx.MockTransport(flaky.handle))

    def new_worker() -> DeliveryWorker:
        return DeliveryWorker(
            live.db, live.settings, client=client, schedule=SCHEDULE, lease_seconds=0.5, batch_size=10
        )

    # The first worker dies while its batch is in flight: its leases must expire before anyone resends.
    doomed = asyncio.create_task(new_worker().run_once())
    await asyncio.sleep(0.05)
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)

    stop = asyncio.Event()
    workers = [asyncio.create_task(new_worker().run_forever(stop)) for _ in range(3)]
    for _ in range(300):
        async with live.db.sessionmaker() as session:
            pending = (await session.exec(select(OutboxEvent).where(OutboxEvent.status != "delivered"))).all()
        if not pending:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*workers)
    await client.aclose()

    assert pending == []
    assert set(flaky.applied) == ids
    assert set(flaky.applied.values()) == {1}
    assert flaky.overlaps == 0, "two workers sent one event at the same time"
    assert flaky.requests > EVENTS  # the faults really happened
