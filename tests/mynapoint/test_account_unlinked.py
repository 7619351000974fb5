"""account.unlinked: the resident's applications on that account are marked unlinked, reservations are voided
(posted grants stay), later charges are refused; applying again re-links, and never leaves two live grants."""

import asyncio

from sqlmodel import func, select

from common.models import Application, Grant, InboundWebhook, LedgerEntry, OutboxEvent, Program
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer
from tests.mynapoint.builders import (
    MUNICIPALITY,
    applied_grant,
    apply,
    charge,
    create_provider,
    fixed_program,
    fresh,
    live_grants,
    post_event,
    resident,
    signed,
    unlinked,
)


async def _premium_program(client, muni_key, provider, myki: str, cap: int = 5_000) -> dict:
    body = fixed_program(provider["id"], kind="premium", premium_rate="1/4", per_person_cap=cap, budget=100_000)
    body.pop("points_per_person")
    program = (await client.post("/mynapoint/programs", headers=bearer(muni_key), json=body)).json()
    await client.post(
        f"/mynapoint/programs/{program['id']}/roster", headers=bearer(muni_key), json={"residents": [resident(myki)]}
    )
    return program


async def test_unlinking_voids_the_reservation_once_however_often_it_is_delivered(
    client, app_key, provider, program, session
):
    grant = await applied_grant(client, app_key, provider, program)
    body, headers = signed(provider["webhook_secret"], unlinked("acct-myki-0001"), msg_id="msg_unlink_1")
    url = f"/webhooks/providers/{provider['id']}"
    first = await client.post(url, content=body, headers=headers)
    assert first.json()["outcome"] == "unlinked 1 application, voided 1 grant"
    again = await client.post(url, content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    retold = await post_event(client, provider, unlinked("acct-myki-0001"))  # same fact, new webhook-id
    assert retold.json()["outcome"] == "unlinked 0 applications, voided 0 grants"

    assert (await fresh(session, Grant, grant["id"])).status == "voided"
    assert (await fresh(session, Program, program["id"])).reserved_yen == 0  # the budget is freed
    voids = (
        select(func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.grant_id == grant["id"], LedgerEntry.kind == "void")
    )
    assert (await session.exec(voids)).one() == 1
    stored = (await session.exec(select(Application).where(Application.program_id == program["id"]))).one()
    await session.refresh(stored)
    assert stored.unlinked_at is not None
    record = await fresh(session, InboundWebhook, (provider["id"], "msg_unlink_1"))
    assert (record.event_type, record.outcome) == ("account.unlinked", "unlinked 1 application, voided 1 grant")
    late = await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    assert late.json()["outcome"] == "ignored: grant already voided"
    assert await reconcile(session) == []


async def test_a_posted_grant_stays_when_the_account_is_unlinked(client, app_key, provider, program, session):
    grant = await applied_grant(client, app_key, provider, program)
    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    outcome = (await post_event(client, provider, unlinked("acct-myki-0001"))).json()["outcome"]
    assert outcome == "unlinked 1 application, voided 0 grants"
    assert (await fresh(session, Grant, grant["id"])).status == "posted"
    # Applying again re-links the account but issues nothing new: the points already landed.
    again = await apply(client, app_key, provider, program, "myki-0001", "acct-new")
    assert again["grant"] == {"id": grant["id"], "points": 5_000, "status": "posted"}
    assert [g.id for g in await live_grants(session, program["id"])] == [grant["id"]]
    assert await reconcile(session) == []


async def test_only_the_named_program_and_the_reporting_provider_are_affected(
    client, app_key, muni_key, ops_key, provider, program, session
):
    other_program = (
        await client.post(
            "/mynapoint/programs", headers=bearer(muni_key), json=fixed_program(provider["id"], name="第二")
        )
    ).json()
    await client.post(
        f"/mynapoint/programs/{other_program['id']}/roster",
        headers=bearer(muni_key),
        json={"residents": [resident("myki-0001")]},
    )
    await applied_grant(client, app_key, provider, program)
    await applied_grant(client, app_key, provider, other_program)
    stranger = await create_provider(client, ops_key)
    assert (await post_event(client, stranger, unlinked("acct-myki-0001"))).json()[
        "outcome"
    ] == "unlinked 0 applications, voided 0 grants"
    named = await post_event(client, provider, unlinked("acct-myki-0001", program_id=other_program["id"]))
    assert named.json()["outcome"] == "unlinked 1 application, voided 1 grant"
    assert [g.program_id for g in await live_grants(session, program["id"])] == [program["id"]]
    assert await live_grants(session, other_program["id"]) == []
    everything = await post_event(client, provider, unlinked("acct-myki-0001"))
    assert everything.json()["outcome"] == "unlinked 1 application, voided 1 grant"


async def test_a_malformed_unlink_is_recorded_as_rejected(client, provider):
    missing = await post_event(client, provider, {"type": "account.unlinked", "data": {}})
    assert missing.json()["outcome"] == "rejected: provider_account_id missing"
    wrong = await post_event(client, provider, unlinked("acct-x", program_id=12))
    assert wrong.json()["outcome"] == "rejected: program_id must be a string"


async def test_charges_on_an_unlinked_account_are_refused_until_the_resident_relinks(
    client, app_key, muni_key, provider, session
):
    program = await _premium_program(client, muni_key, provider, "buyer-u", cap=1_500)
    await apply(client, app_key, provider, program, "buyer-u", "acct-old")
    assert (
        (await post_event(client, provider, charge(program, "c1", "acct-old")))
        .json()["outcome"]
        .startswith("reserved 1000 points")
    )
    outcome = (await post_event(client, provider, unlinked("acct-old"))).json()["outcome"]
    assert outcome == "unlinked 1 application, voided 1 grant"
    refused = await post_event(client, provider, charge(program, "c2", "acct-old"))
    assert refused.json()["outcome"] == "rejected: account unlinked"

    relinked = await apply(client, app_key, provider, program, "buyer-u", "acct-new")
    assert relinked["eligible"] is True and relinked["grant"] is None
    stale = await post_event(client, provider, charge(program, "c3", "acct-old"))
    assert stale.json()["outcome"] == "rejected: no application for that account"
    # The voided reservation gave its 1,000 points back to the 1,500 cap.
    renewed = await post_event(client, provider, charge(program, "c4", "acct-new", amount=8_000))
    assert renewed.json()["outcome"].startswith("reserved 1500 points")
    assert await reconcile(session) == []


async def test_relinking_a_fixed_program_replaces_only_a_voided_grant(client, app_key, provider, program, session):
    first = await applied_grant(client, app_key, provider, program)
    await post_event(client, provider, unlinked("acct-myki-0001"))
    relinked = await apply(client, app_key, provider, program, "myki-0001", "acct-second")
    second = relinked["grant"]
    assert second["id"] != first["id"] and (second["points"], second["status"]) == (5_000, "reserved")
    assert (
        relinked["application_id"]
        == (await apply(client, app_key, provider, program, "myki-0001", "acct-third"))["application_id"]
    )  # linked: nothing changes
    assert [g.id for g in await live_grants(session, program["id"])] == [second["id"]]
    created = (
        await session.exec(
            select(OutboxEvent.body).where(OutboxEvent.event_type == "grant.created").order_by(OutboxEvent.created_at)
        )
    ).all()
    assert "acct-second" in created[-1] and len(created) == 2  # the provider learns the new account

    # Unlinked again, a second replacement; still one live grant, and the ledger agrees.
    assert (await post_event(client, provider, unlinked("acct-second"))).json()[
        "outcome"
    ] == "unlinked 1 application, voided 1 grant"
    third = (await apply(client, app_key, provider, program, "myki-0001", "acct-fourth"))["grant"]
    assert [g.id for g in await live_grants(session, program["id"])] == [third["id"]]
    sources = (
        await session.exec(select(Grant.source).where(Grant.program_id == program["id"]).order_by(Grant.created_at))
    ).all()
    assert sources == ["application", f"relink:{first['id']}", f"relink:{second['id']}"]
    stored = await fresh(session, Program, program["id"])
    assert (stored.reserved_yen, stored.posted_yen) == (5_000, 0)
    assert await reconcile(session) == []


async def test_relinking_when_the_budget_is_gone_leaves_the_account_unlinked(
    client, app_key, muni_key, provider, session
):
    program = (
        await client.post(
            "/mynapoint/programs", headers=bearer(muni_key), json=fixed_program(provider["id"], budget=5_000)
        )
    ).json()
    await client.post(
        f"/mynapoint/programs/{program['id']}/roster",
        headers=bearer(muni_key),
        json={"residents": [resident("myki-a"), resident("myki-b")]},
    )
    await apply(client, app_key, provider, program, "myki-a", "acct-a")
    await post_event(client, provider, unlinked("acct-a"))
    taken = await apply(client, app_key, provider, program, "myki-b", "acct-b")  # the freed budget goes to b
    assert taken["grant"]["status"] == "reserved"
    refused = await apply(client, app_key, provider, program, "myki-a", "acct-a2")
    assert refused["reasons"][0]["code"] == "budget_exhausted" and refused["grant"] is None
    stored = (
        await session.exec(
            select(Application).where(
                Application.program_id == program["id"], Application.provider_account_id == "acct-a"
            )
        )
    ).one()
    await session.refresh(stored)
    assert stored.unlinked_at is not None
    await client.post(
        f"/mynapoint/programs/{program['id']}/funding", headers=bearer(muni_key), json={"amount_yen": 5_000}
    )
    later = await apply(client, app_key, provider, program, "myki-a", "acct-a2")
    assert later["grant"]["status"] == "reserved"
    assert len(await live_grants(session, program["id"])) == 2
    assert await reconcile(session) == []


async def test_relinking_outside_the_window_is_refused(client, app_key, provider, program, session):
    await applied_grant(client, app_key, provider, program)
    await post_event(client, provider, unlinked("acct-myki-0001"))
    stored = await fresh(session, Program, program["id"])
    stored.closes_at = stored.opens_at
    session.add(stored)
    await session.commit()
    answer = await apply(client, app_key, provider, program, "myki-0001", "acct-late")
    assert answer["eligible"] is False and answer["reasons"][0]["code"] == "outside_window"
    assert await live_grants(session, program["id"]) == []


async def test_concurrent_relinks_leave_one_live_grant(live):
    """Committed transactions on real connections: many re-applications at once, each with another account."""
    ops, app = await live.key("ops"), await live.key("app")
    muni = await live.key("municipality", municipality_code=MUNICIPALITY)
    provider = await create_provider(live.client, ops)
    program = (
        await live.client.post("/mynapoint/programs", headers=bearer(muni), json=fixed_program(provider["id"]))
    ).json()
    await live.client.post(
        f"/mynapoint/programs/{program['id']}/roster", headers=bearer(muni), json={"residents": [resident("racer")]}
    )
    await apply(live.client, app, provider, program, "racer", "acct-racer")
    await post_event(live.client, provider, unlinked("acct-racer"))
    answers = await asyncio.gather(
        *(apply(live.client, app, provider, program, "racer", f"acct-{n}") for n in range(12))
    )
    granted = {answer["grant"]["id"] for answer in answers if answer["grant"]}
    async with live.db.sessionmaker() as session:
        alive = await live_grants(session, program["id"])
        assert [g.id for g in alive] == list(granted) and len(granted) == 1
        assert await reconcile(session) == []
