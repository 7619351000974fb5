"""Point-issuance fixtures: a provider that verifies with the reference standardwebhooks package, programs with
rosters, and `live`, the suite on committed transactions for tests that need real concurrent connections."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import delete, text
from standardwebhooks.webhooks import Webhook

from common.db import Database
from common.models import ApiKey, Provider
from tests.conftest import bearer, make_key

MUNICIPALITY = "012092"  # 夕張市
OTHER_MUNICIPALITY = "131016"  # 千代田区
RECEIVER_URL = "http://provider.test/webhooks"


def window() -> dict:
    now = datetime.now(UTC)
    return {"opens_at": (now - timedelta(days=1)).isoformat(), "closes_at": (now + timedelta(days=30)).isoformat()}


def fixed_program(provider_id: str, *, budget: int = 50_000, points: int = 5_000, **extra) -> dict:
    return {"municipality_code": MUNICIPALITY, "name": "子育て応援ポイント", "purpose": "子育て支援", "kind": "fixed",
            "points_per_person": points, "budget_yen": budget, "provider_ids": [provider_id], **window(), **extra}


def resident(myki_id: str, **extra) -> dict:
    return {"myki_id": myki_id, "birth_date": "1990-04-01", "household_with_children": True, "income_band": 2,
            "activity_participation": True, **extra}


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


async def create_provider(client, ops_key: str, receiver: Receiver | None = None) -> dict:
    response = await client.post("/mynapoint/providers", headers=bearer(ops_key),
                                 json={"name": "テストペイ", "webhook_url": RECEIVER_URL})
    assert response.status_code == 201, response.text
    provider = response.json()
    if receiver is not None:
        receiver.secret = provider["webhook_secret"]
    return provider


@pytest.fixture
async def muni_key(db) -> str:
    return await make_key(db, "municipality", municipality_code=MUNICIPALITY)


@pytest.fixture
async def provider(client, ops_key, receiver) -> dict:
    return await create_provider(client, ops_key, receiver)


@pytest.fixture
async def program(client, muni_key, provider) -> dict:
    response = await client.post("/mynapoint/programs", headers=bearer(muni_key), json=fixed_program(provider["id"]))
    assert response.status_code == 201, response.text
    roster = [resident(f"myki-{n:04d}") for n in range(20)]
    uploaded = await client.post(f"/mynapoint/programs/{response.json()['id']}/roster", headers=bearer(muni_key),
                                 json={"residents": roster})
    assert uploaded.json() == {"upserted": 20, "errors": []}
    return response.json()


def application(provider_id: str, myki_id: str) -> dict:
    return {"myki_id": myki_id, "provider_id": provider_id, "provider_account_id": f"acct-{myki_id}"}


# --- the suite on committed transactions -----------------------------------------------------------------

MYNAPOINT_TABLES = ("ledger_entry", "outbox_event", "inbound_webhook", "point_grant", "application", "roster_entry",
                    "idempotency_record", "program")


@dataclass
class Live:
    client: httpx.AsyncClient
    db: Database
    settings: object

    async def key(self, role: str, **binding) -> str:
        return await make_key(self.db, role, **binding)

    async def fixed_program(self, receiver: "Receiver", myki_ids: list[str], **terms) -> tuple[str, dict, dict]:
        """(ops key, provider, program): a provider whose webhooks go to `receiver`, and a fixed program with
        these residents on its roster."""
        ops, muni = await self.key("ops"), await self.key("municipality", municipality_code=MUNICIPALITY)
        provider = await create_provider(self.client, ops, receiver)
        created = await self.client.post("/mynapoint/programs", headers=bearer(muni),
                                         json=fixed_program(provider["id"], **terms))
        assert created.status_code == 201, created.text
        program = created.json()
        uploaded = await self.client.post(f"/mynapoint/programs/{program['id']}/roster", headers=bearer(muni),
                                          json={"residents": [resident(myki_id) for myki_id in myki_ids]})
        assert uploaded.json()["errors"] == [], uploaded.text
        return ops, provider, program


@pytest.fixture
async def live(engine, settings):
    """Gateway and services on the real engine: every request commits, so many run concurrently.

    Rows are really committed; the fixture deletes what this test created afterwards (providers and keys made
    after it started, and every point-issuance row, which only these tests commit)."""
    from gateway.main import create_app as gateway_app
    from services.matching.main import create_app as matching_app
    from services.mynapoint.main import create_app as mynapoint_app
    from services.subsidy.main import create_app as subsidy_app

    started = datetime.now(UTC)
    db = Database(engine)
    apps = {"subsidy": subsidy_app(settings=settings, db=db), "matching": matching_app(settings=settings, db=db),
            "mynapoint": mynapoint_app(settings=settings, db=db)}
    gateway = gateway_app(settings=settings, db=db,
                          transports={name: httpx.ASGITransport(app=app) for name, app in apps.items()})
    async with LifespanManager(gateway):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test",
                                     timeout=120) as client:
            yield Live(client, db, settings)
    async with db.sessionmaker() as session:
        for table in MYNAPOINT_TABLES:
            await session.exec(text(f"DELETE FROM {table}"))
        await session.exec(delete(ApiKey).where(ApiKey.created_at >= started))
        await session.exec(delete(Provider).where(Provider.created_at >= started))
        await session.commit()
