"""Every money movement on the production commit path (the `live` fixture: each request's own COMMIT and the
committing batches' COMMIT on the driver, no test savepoint), read back from a fresh connection afterwards."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update
from sqlmodel import select

from common.models import Grant, LedgerEntry, Program
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer
from tests.mynapoint.builders import (
    apply,
    charge,
    create_program,
    credited,
    failed_event_of,
    post_event,
    premium_program,
    redeliver,
    unlinked,
    worker,
)


async def _committed(live, program_id: str) -> tuple[tuple[int, int, int], Counter]:
    """The program's committed (budget, reserved, posted) and its ledger rows by kind; reconcile must be clean."""
    async with live.db.sessionmaker() as session:
        program = await session.get(Program, program_id)
        kinds = Counter(await session.exec(select(LedgerEntry.kind).where(LedgerEntry.program_id == program_id)))
        assert await reconcile(session) == []
    return (program.budget_yen, program.reserved_yen, program.posted_yen), kinds


async def _grant_status(live, grant_id: str) -> str:
    async with live.db.sessionmaker() as session:
        return (await session.get(Grant, grant_id)).status


async def test_an_application_a_refusal_and_a_top_up_commit_exactly_their_movements(live, receiver):
    made = await live.fixed_program(receiver, ["res-a1", "res-a2"], budget=5_000)
    app = await live.key("app")
    first = await apply(live.client, app, made.provider, made.program, "res-a1")
    refused = await apply(live.client, app, made.provider, made.program, "res-a2")
    assert first["grant"]["status"] == "reserved" and refused["reasons"][0]["code"] == "budget_exhausted"
    assert await _committed(live, made.program["id"]) == ((5_000, 5_000, 0), Counter(fund=1, reserve=1))
    topped = await live.client.post(
        f"/mynapoint/programs/{made.program['id']}/funding", headers=bearer(made.muni_key), json={"amount_yen": 5_000}
    )
    assert topped.status_code == 200, topped.text
    again = await apply(live.client, app, made.provider, made.program, "res-a2")
    assert again["grant"]["status"] == "reserved"
    assert await _committed(live, made.program["id"]) == ((10_000, 10_000, 0), Counter(fund=2, reserve=2))


async def test_a_credit_commits_once_and_a_revoke_takes_it_back(live, receiver):
    made = await live.fixed_program(receiver, ["res-c1"])
    grant = (await apply(live.client, await live.key("app"), made.provider, made.program, "res-c1"))["grant"]
    outcomes = [
        (await post_event(live.client, made.provider, credited(grant["id"]))).json()["outcome"] for _ in range(2)
    ]
    assert outcomes == ["posted", "ignored: grant already posted"]
    assert await _committed(live, made.program["id"]) == ((50_000, 0, 5_000), Counter(fund=1, reserve=1, post=1))
    revoked = await live.client.post(f"/mynapoint/grants/{grant['id']}/revoke", headers=bearer(made.muni_key))
    assert revoked.json()["status"] == "revoked"
    assert await _committed(live, made.program["id"]) == ((50_000, 0, 0), Counter(fund=1, reserve=1, post=1, revoke=1))


async def test_expiry_and_a_revoke_before_credit_commit_their_voids(live, receiver, receiver_client):
    made = await live.fixed_program(receiver, ["res-v1", "res-v2"])
    app = await live.key("app")
    expiring = (await apply(live.client, app, made.provider, made.program, "res-v1"))["grant"]
    withdrawn = (await apply(live.client, app, made.provider, made.program, "res-v2"))["grant"]
    async with live.db.sessionmaker() as session:
        await session.exec(
            update(Grant).where(Grant.id == expiring["id"]).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        await session.commit()
    assert await worker(live.db, live.settings, receiver_client).sweep_expired_reservations() == 1
    revoked = await live.client.post(f"/mynapoint/grants/{withdrawn['id']}/revoke", headers=bearer(made.muni_key))
    assert revoked.json()["status"] == "voided"
    assert [await _grant_status(live, grant["id"]) for grant in (expiring, withdrawn)] == ["voided", "voided"]
    assert await _committed(live, made.program["id"]) == ((50_000, 0, 0), Counter(fund=1, reserve=2, void=2))


async def test_an_unlink_and_a_relink_commit_a_void_and_one_new_reservation(live, receiver):
    made = await live.fixed_program(receiver, ["res-u1"])
    app = await live.key("app")
    old = (await apply(live.client, app, made.provider, made.program, "res-u1", "acct-old"))["grant"]
    unlink = await post_event(live.client, made.provider, unlinked("acct-old"))
    assert unlink.json()["outcome"] == "unlinked 1 application, voided 1 grant"
    new = (await apply(live.client, app, made.provider, made.program, "res-u1", "acct-new"))["grant"]
    assert new["id"] != old["id"] and new["status"] == "reserved"
    assert await _committed(live, made.program["id"]) == ((50_000, 5_000, 0), Counter(fund=1, reserve=2, void=1))


async def test_charges_commit_within_the_cap_and_a_charge_the_budget_refuses_leaves_nothing(live, receiver):
    made, app = await live.fixed_program(receiver, []), await live.key("app")
    provider = made.provider
    program = await create_program(
        live.client, made.muni_key, premium_program(provider["id"], cap=3_000, budget=2_000), ["buyer"]
    )
    await apply(live.client, app, provider, program, "buyer")
    outcomes = [
        (await post_event(live.client, provider, charge(program, cid, "acct-buyer", amount))).json()["outcome"]
        for cid, amount in [("k1", 4_000), ("k2", 8_000), ("k3", 4_000)]
    ]
    assert outcomes[0].startswith("reserved 1000 points") and outcomes[1] == "ignored: budget exhausted"
    assert outcomes[2].startswith("reserved 1000 points")  # the refused charge took nothing from the cap
    assert await _committed(live, program["id"]) == ((2_000, 2_000, 0), Counter(fund=1, reserve=2))


async def test_a_redelivery_commits_the_voided_grant_reserved_again(live, receiver):
    made = await live.fixed_program(receiver, ["res-r1"])
    grant = (await apply(live.client, await live.key("app"), made.provider, made.program, "res-r1"))["grant"]
    receiver.fail = lambda request: httpx.Response(503)
    receiver_client = httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle))
    sender = worker(live.db, live.settings, receiver_client)
    for _ in range(3):
        await sender.run_once()
    async with live.db.sessionmaker() as session:
        failed = await failed_event_of(session, grant["id"])
    answer = await redeliver(live.client, made.ops_key, failed.id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["grant_id"] != grant["id"]
    assert await _committed(live, made.program["id"]) == ((50_000, 5_000, 0), Counter(fund=1, reserve=2, void=1))
