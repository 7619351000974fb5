"""Money guarantees under real concurrency, on committed transactions (the `live` fixture), on both databases."""

import asyncio
import random
from collections import Counter

from sqlalchemy import func
from sqlmodel import select

from common.models import Grant, Program
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer
from tests.mynapoint.builders import MUNICIPALITY, application, create_provider, fixed_program, resident, signed

RESIDENTS = 400
GRANTS_COVERED = 100
POINTS = 5_000


async def _setup(live) -> tuple[dict, dict, str]:
    ops = await live.key("ops")
    muni = await live.key("municipality", municipality_code=MUNICIPALITY)
    app = await live.key("app")
    provider = await create_provider(live.client, ops)
    created = await live.client.post(
        "/mynapoint/programs",
        headers=bearer(muni),
        json=fixed_program(provider["id"], budget=GRANTS_COVERED * POINTS, points=POINTS),
    )
    program = created.json()
    roster = [resident(f"r-{n:04d}") for n in range(RESIDENTS)]
    uploaded = await live.client.post(
        f"/mynapoint/programs/{program['id']}/roster", headers=bearer(muni), json={"residents": roster}
    )
    assert uploaded.json()["upserted"] == RESIDENTS
    return provider, program, app


async def test_400_residents_at_once_get_exactly_the_100_grants_the_budget_covers(live):
    provider, program, app = await _setup(live)
    url = f"/mynapoint/programs/{program['id']}/applications"
    rng = random.Random(4)
    requests = [(f"r-{n:04d}", f"key-{n}") for n in range(RESIDENTS)]
    same_key_retries = [(myki, key) for myki, key in rng.sample(requests, 60)]
    new_key_retries = [(myki, f"{key}-again") for myki, key in rng.sample(requests, 60)]
    everything = requests + same_key_retries + new_key_retries
    rng.shuffle(everything)

    async def send(myki: str, key: str):
        response = await live.client.post(
            url, headers=bearer(app) | {"Idempotency-Key": key}, json=application(provider["id"], myki)
        )
        return myki, key, response

    answers = await asyncio.gather(*(send(myki, key) for myki, key in everything))
    assert {response.status_code for _, _, response in answers} <= {200, 409}, [
        r.text for _, _, r in answers if r.status_code not in (200, 409)
    ][:3]
    # A 409 means "the same key is still in flight": the client retries it once it is done.
    final = {}
    for myki, key, response in answers:
        if response.status_code == 409:
            _, _, response = await send(myki, key)
        assert response.status_code == 200
        final.setdefault(myki, []).append(response.json())

    granted_ids = {}
    for myki, bodies in final.items():
        grants = {body["grant"]["id"] for body in bodies if body["grant"]}
        assert len(grants) <= 1, f"{myki} saw two different grants"
        if grants:
            granted_ids[myki] = grants.pop()
            # A retried success is replayed or found again, never answered "budget exhausted".
            assert all(body["grant"] for body in bodies)
        else:
            assert all(
                body["eligible"] and [r["code"] for r in body["reasons"]] == ["budget_exhausted"] for body in bodies
            )
    assert len(granted_ids) == GRANTS_COVERED

    async with live.db.sessionmaker() as session:
        stored = await session.get(Program, program["id"])
        assert (stored.reserved_yen, stored.budget_yen) == (GRANTS_COVERED * POINTS, GRANTS_COVERED * POINTS)
        per_resident = (
            await session.exec(
                select(Grant.myki_hash, func.count()).where(Grant.program_id == program["id"]).group_by(Grant.myki_hash)
            )
        ).all()
        assert len(per_resident) == GRANTS_COVERED and {count for _, count in per_resident} == {1}
        assert set(granted_ids.values()) == set(
            (await session.exec(select(Grant.id).where(Grant.program_id == program["id"]))).all()
        )
        assert await reconcile(session) == []


async def test_concurrent_requests_with_one_key_make_one_grant_and_conflicts(live):
    provider, program, app = await _setup(live)
    url = f"/mynapoint/programs/{program['id']}/applications"
    headers = bearer(app) | {"Idempotency-Key": "one-key"}
    answers = await asyncio.gather(
        *(live.client.post(url, headers=headers, json=application(provider["id"], "r-0001")) for _ in range(8))
    )
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 409}
    assert len({a.json()["grant"]["id"] for a in answers if a.status_code == 200}) == 1
    async with live.db.sessionmaker() as session:
        count = (
            await session.exec(select(func.count()).select_from(Grant).where(Grant.program_id == program["id"]))
        ).one()
        assert count == 1


async def test_one_webhook_delivered_concurrently_has_one_effect(live):
    provider, program, app = await _setup(live)
    answer = await live.client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app),
        json=application(provider["id"], "r-0002"),
    )
    grant_id = answer.json()["grant"]["id"]
    body, headers = signed(provider["webhook_secret"], {"type": "grant.credited", "data": {"grant_id": grant_id}})
    answers = await asyncio.gather(
        *(live.client.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers) for _ in range(6))
    )
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.json()["duplicate"] is False for a in answers) == 1
    async with live.db.sessionmaker() as session:
        stored = await session.get(Program, program["id"])
        assert (stored.reserved_yen, stored.posted_yen) == (0, POINTS)
        assert await reconcile(session) == []
