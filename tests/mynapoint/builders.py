"""Builders for point-issuance tests: providers, programs, rosters, residents, applications, grants and the
webhooks that move them, shared by every test module here (test modules import nothing from each other)."""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import func, select
from standardwebhooks.webhooks import Webhook

from common.models import Application, Grant, LedgerEntry, OutboxEvent, Program
from services.mynapoint.worker import DeliveryWorker
from tests.conftest import bearer

MUNICIPALITY = "012092"  # 夕張市
OTHER_MUNICIPALITY = "131016"  # 千代田区
RECEIVER_URL = "http://provider.test/webhooks"
FAST = (0, 0, 0)  # three delivery attempts, no waiting


# --- programs, rosters, residents ------------------------------------------------------------------------


def window() -> dict:
    now = datetime.now(UTC)
    return {"opens_at": (now - timedelta(days=1)).isoformat(), "closes_at": (now + timedelta(days=30)).isoformat()}


def fixed_program(provider_id: str, *, budget: int = 50_000, points: int = 5_000, **extra) -> dict:
    return {
        "municipality_code": MUNICIPALITY,
        "name": "子育て応援ポイント",
        "purpose": "子育て支援",
        "kind": "fixed",
        "points_per_person": points,
        "budget_yen": budget,
        "provider_ids": [provider_id],
        **window(),
        **extra,
    }


def premium_program(provider_id: str, *, cap: int, budget: int = 100_000, rate: str = "1/4") -> dict:
    body = fixed_program(provider_id, kind="premium", premium_rate=rate, per_person_cap=cap, budget=budget)
    body.pop("points_per_person")
    return body


def resident(myki_id: str, **extra) -> dict:
    return {
        "myki_id": myki_id,
        "birth_date": "1990-04-01",
        "household_with_children": True,
        "income_band": 2,
        "activity_participation": True,
        **extra,
    }


def application(provider_id: str, myki_id: str, account: str | None = None) -> dict:
    return {"myki_id": myki_id, "provider_id": provider_id, "provider_account_id": account or f"acct-{myki_id}"}


def keyed(api_key: str, idempotency_key: str) -> dict[str, str]:
    return bearer(api_key) | {"Idempotency-Key": idempotency_key}


async def create_provider(client, ops_key: str, receiver=None) -> dict:
    """A provider (its whsec_ secret included); webhooks to it are verified by `receiver` when given."""
    response = await client.post(
        "/mynapoint/providers", headers=bearer(ops_key), json={"name": "テストペイ", "webhook_url": RECEIVER_URL}
    )
    assert response.status_code == 201, response.text
    provider = response.json()
    if receiver is not None:
        receiver.secret = provider["webhook_secret"]
    return provider


async def create_program(client, muni_key: str, body: dict, myki_ids: list[str] = ()) -> dict:
    """A program from `body`, with these residents on its roster."""
    created = await client.post("/mynapoint/programs", headers=bearer(muni_key), json=body)
    assert created.status_code == 201, created.text
    program = created.json()
    if myki_ids:
        uploaded = await client.post(
            f"/mynapoint/programs/{program['id']}/roster",
            headers=bearer(muni_key),
            json={"residents": [resident(myki_id) for myki_id in myki_ids]},
        )
        assert uploaded.json() == {"upserted": len(set(myki_ids)), "errors": []}, uploaded.text
    return program


# --- applications and grants -----------------------------------------------------------------------------


async def apply(
    client, app_key: str, provider: dict, program: dict, myki: str = "myki-0001", account: str | None = None
) -> dict:
    """The resident's application, answered 200."""
    answer = await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], myki, account),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def applied_grant(client, app_key: str, provider: dict, program: dict, myki: str = "myki-0001") -> dict:
    """The grant a fixed program reserved for the resident's application."""
    return (await apply(client, app_key, provider, program, myki))["grant"]


async def premium_buyer(client, app_key, muni_key, provider, buyer: str, cap: int, charge_yen: int):
    """A premium program (1/4 of each charge, up to `cap`) with one admitted resident; and their charge events."""
    program = await create_program(client, muni_key, premium_program(provider["id"], cap=cap), [buyer])
    await apply(client, app_key, provider, program, buyer)

    def charge_of(charge_id: str) -> dict:
        return charge(program, charge_id, f"acct-{buyer}", charge_yen)

    return program, charge_of


async def live_grants(session, program_id: str) -> list[Grant]:
    query = select(Grant).where(Grant.program_id == program_id, Grant.status.in_(["reserved", "posted"]))
    return list((await session.exec(query.execution_options(populate_existing=True))).all())


async def fresh(session, model, key):
    row = await session.get(model, key)
    await session.refresh(row)
    return row


# --- webhooks both ways ----------------------------------------------------------------------------------


def worker(db, settings, receiver_client, schedule=FAST) -> DeliveryWorker:
    return DeliveryWorker(db, settings, client=receiver_client, schedule=schedule, rng=random.Random(1))


def signed(secret: str, event: dict, *, msg_id: str | None = None, at: datetime | None = None) -> tuple[bytes, dict]:
    body = json.dumps(event, ensure_ascii=False)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        "content-type": "application/json",
    }
    return body.encode(), headers


async def post_event(client, provider, event, **kwargs) -> httpx.Response:
    body, headers = signed(provider["webhook_secret"], event, **kwargs)
    return await client.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers)


def credited(grant_id: str) -> dict:
    return {"type": "grant.credited", "data": {"grant_id": grant_id}}


def unlinked(account: str, **extra) -> dict:
    return {"type": "account.unlinked", "data": {"provider_account_id": account, **extra}}


def charge(program: dict, charge_id: str, account: str, amount: int = 4_000) -> dict:
    return {
        "type": "charge.completed",
        "data": {
            "charge_id": charge_id,
            "program_id": program["id"],
            "provider_account_id": account,
            "amount_yen": amount,
        },
    }


# --- redelivery ------------------------------------------------------------------------------------------


async def failed_event_of(session, grant_id: str) -> OutboxEvent:
    query = select(OutboxEvent).where(OutboxEvent.grant_id == grant_id, OutboxEvent.event_type == "grant.created")
    event = (await session.exec(query.execution_options(populate_existing=True))).one()
    assert event.status == "failed"
    return event


def redeliver(client, ops_key: str, event_id: str, **headers):
    return client.post(f"/mynapoint/deliveries/{event_id}/redeliver", headers=bearer(ops_key) | headers)


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


@dataclass(frozen=True)
class Written:
    """Everything a money movement could write for a program."""

    grants: int
    ledger_entries: int
    outbox_events: int
    balances: tuple[int, int, int]  # budget, reserved, posted
    granted: list[int]  # each resident's premium total


async def written(session, program_id: str) -> Written:
    grants = (await session.exec(select(func.count()).select_from(Grant).where(Grant.program_id == program_id))).one()
    ledger = (
        await session.exec(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.program_id == program_id))
    ).one()
    events = (await session.exec(select(func.count()).select_from(OutboxEvent))).one()
    budget, reserved, posted = (
        await session.exec(
            select(Program.budget_yen, Program.reserved_yen, Program.posted_yen).where(Program.id == program_id)
        )
    ).one()
    granted = (await session.exec(select(Application.granted_yen).where(Application.program_id == program_id))).all()
    return Written(grants, ledger, events, (budget, reserved, posted), sorted(granted))
