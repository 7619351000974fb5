"""Leases that follow the work: a real delivery worker process, stalled on a slow provider for longer than its
lease, keeps its events (no other worker sends them); killed with SIGKILL mid-delivery, its events are
delivered by another worker within the lease plus one poll interval."""

import asyncio
import os
import signal
import subprocess
import sys
import time

from aiohttp import web
from sqlmodel import select

from common.models import OutboxEvent
from common.models.mynapoint import DeliveryStatus
from services.mynapoint.worker import DeliveryWorker
from tests.conftest import bearer
from tests.harness import TEST_SECRET
from tests.mynapoint.builders import MUNICIPALITY, application, create_program, fixed_program

LEASE, POLL, EVENTS = 2.0, 0.3, 4
SLACK = 1.5  # the second worker's own claim, send and record, on a machine shared with other tests


class SlowProvider:
    """Holds every webhook unanswered until released, then answers 204; counts what arrives per webhook-id."""

    def __init__(self) -> None:
        self.arrivals: dict[str, int] = {}
        self.released = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        webhook_id = request.headers["webhook-id"]
        self.arrivals[webhook_id] = self.arrivals.get(webhook_id, 0) + 1
        await self.released.wait()
        return web.Response(status=204)


async def _serve(provider: SlowProvider) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/hook", provider.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps it private


async def _statuses(live) -> list[str]:
    async with live.db.sessionmaker() as session:
        return list((await session.exec(select(OutboxEvent.status))).all())


async def test_a_killed_worker_s_events_are_delivered_within_the_lease_plus_one_poll(live, database_url, tmp_path):
    provider_stub = SlowProvider()
    runner, port = await _serve(provider_stub)
    ops, muni, app = (
        await live.key("ops"),
        await live.key("municipality", municipality_code=MUNICIPALITY),
        await live.key("app"),
    )
    provider = (
        await live.client.post(
            "/mynapoint/providers",
            headers=bearer(ops),
            json={"name": "遅いペイ", "webhook_url": f"http://127.0.0.1:{port}/hook"},
        )
    ).json()
    residents = [f"kill-{n}" for n in range(EVENTS)]
    program = await create_program(live.client, muni, fixed_program(provider["id"]), residents)
    for n in range(EVENTS):
        answer = await live.client.post(
            f"/mynapoint/programs/{program['id']}/applications",
            headers=bearer(app),
            json=application(provider["id"], f"kill-{n}"),
        )
        assert answer.json()["grant"] is not None, answer.text
    env = dict(
        os.environ,
        CHIIKI_ENV="test",
        CHIIKI_DATABASE_URL=database_url,
        CHIIKI_INTERNAL_SECRET=TEST_SECRET,
        CHIIKI_VAR_DIR=str(tmp_path),
        CHIIKI_LOG_JSON="false",
        CHIIKI_WORKER_LEASE_SECONDS=str(LEASE),
        CHIIKI_WORKER_POLL_SECONDS=str(POLL),
    )
    log = (tmp_path / "worker.log").open("w+")
    doomed = subprocess.Popen(
        [sys.executable, "-m", "common.cli", "mynapoint", "worker"], env=env, stdout=log, stderr=log
    )
    stop, rescuer = asyncio.Event(), None
    try:
        deadline = time.monotonic() + 60
        while len(provider_stub.arrivals) < EVENTS:  # the doomed worker is sending every event
            assert doomed.poll() is None and time.monotonic() < deadline, log.seek(0) or log.read()
            await asyncio.sleep(0.1)
        settings = live.settings.model_copy(update={"worker_lease_seconds": LEASE, "worker_poll_seconds": POLL})
        rescuer = asyncio.create_task(DeliveryWorker(live.db, settings).run_forever(stop))
        await asyncio.sleep(2 * LEASE)  # stalled twice its lease: it renews, so nobody else sends its events
        assert provider_stub.arrivals == dict.fromkeys(provider_stub.arrivals, 1)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        killed = time.monotonic()
        provider_stub.released.set()
        while (statuses := await _statuses(live)) != [DeliveryStatus.delivered] * EVENTS:
            assert time.monotonic() - killed < LEASE + POLL + SLACK, statuses
            await asyncio.sleep(0.05)
        assert all(count == 2 for count in provider_stub.arrivals.values())  # once by each worker, no more
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(timeout=10)
        stop.set()
        if rescuer is not None:
            await rescuer
        await runner.cleanup()
