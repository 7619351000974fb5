"""Point-issuance fixtures: a provider that verifies with the reference standardwebhooks package, programs with
rosters, and `live`, the suite on committed transactions for tests that need real concurrent connections."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import delete, text
from standardwebhooks.webhooks import Webhook

from common.db import Database
from common.models import ApiKey, Provider
from tests.conftest import make_key
from tests.mynapoint.builders import MUNICIPALITY, create_program, create_provider, fixed_program


@dataclass
class Receiver:
    """A provider endpoint: verifies every request with the reference package and applies each webhook-id once."""

    secret: str = ""
    fail: object = None  # a callable(request) -> httpx.Response | None to inject failures
    received: list = field(default_factory=list)
    applied: dict = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        Webhook(self.secret).verify(body, dict(request.headers))  # raises on a bad signature
        self.received.append(request)
        injected = self.fail(request) if self.fail else None
        if injected is not None:
            return injected
        self.applied.setdefault(request.headers["webhook-id"], body)
        return httpx.Response(204)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def receiver_client(receiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle))


@pytest.fixture
async def muni_key(db) -> str:
    return await make_key(db, "municipality", municipality_code=MUNICIPALITY)


@pytest.fixture
async def provider(client, ops_key, receiver) -> dict:
    return await create_provider(client, ops_key, receiver)


@pytest.fixture
async def program(client, muni_key, provider) -> dict:
    """A fixed program of 5,000 points each and a 50,000 yen budget, residents myki-0000 … myki-0019."""
    return await create_program(client, muni_key, fixed_program(provider["id"]), [f"myki-{n:04d}" for n in range(20)])


# --- the suite on committed transactions -----------------------------------------------------------------

MYNAPOINT_TABLES = (
    "ledger_entry",
    "delivery_attempt",
    "outbox_event",
    "inbound_webhook",
    "point_grant",
    "application",
    "roster_entry",
    "idempotency_record",
    "program_change",
    "program",
)


@dataclass
class Live:
    client: httpx.AsyncClient
    db: Database
    settings: object

    async def key(self, role: str, **binding) -> str:
        return await make_key(self.db, role, **binding)

    async def fixed_program(self, receiver: "Receiver", myki_ids: list[str], **terms) -> "LiveProgram":
        """A provider whose webhooks go to `receiver`, and a fixed program with these residents on its roster."""
        ops, muni = await self.key("ops"), await self.key("municipality", municipality_code=MUNICIPALITY)
        provider = await create_provider(self.client, ops, receiver)
        program = await create_program(self.client, muni, fixed_program(provider["id"], **terms), myki_ids)
        return LiveProgram(ops, muni, provider, program)


@dataclass
class LiveProgram:
    ops_key: str
    muni_key: str
    provider: dict
    program: dict


@pytest.fixture
async def live(engine, settings, local_services):
    """Gateway and services on the real engine: the production commit path (each request's own COMMIT, the
    committing batches' COMMIT on the driver), not the savepoints of the `db` fixture; and many requests run
    concurrently.

    Rows are really committed; the fixture deletes what this test created afterwards (providers and keys made
    after it started, and every point-issuance row, which only these tests commit)."""
    from gateway.main import create_app as gateway_app
    from services.matching.main import create_app as matching_app
    from services.mynapoint.main import create_app as mynapoint_app
    from services.subsidy.main import create_app as subsidy_app

    started = datetime.now(UTC)
    db = Database(engine)
    apps = {
        "subsidy": subsidy_app(settings=settings, db=db),
        "matching": matching_app(settings=settings, db=db),
        "mynapoint": mynapoint_app(settings=settings, db=db),
    }
    local_services.apps.update(apps)
    # Hundreds of requests at once on one event loop: each may wait its turn as long as the client would.
    gateway = gateway_app(settings=settings.model_copy(update={"upstream_timeout_seconds": 120}), db=db)
    async with (
        LifespanManager(gateway),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test", timeout=120
        ) as client,
    ):
        yield Live(client, db, settings)
    await local_services.settled()  # nothing the apps still run outlives the test's rows
    local_services.apps.clear()
    async with db.sessionmaker() as session:
        for table in MYNAPOINT_TABLES:
            await session.exec(text(f"DELETE FROM {table}"))
        await session.exec(delete(ApiKey).where(ApiKey.created_at >= started))
        await session.exec(delete(Provider).where(Provider.created_at >= started))
        await session.commit()
