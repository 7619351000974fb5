"""Settlement per municipality × provider × month, the reconcile command, and ledger properties."""

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import func, select
from typer.testing import CliRunner

from common.cli import app as cli
from common.models import LedgerEntry, Program
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer, make_key
from tests.mynapoint.builders import MUNICIPALITY, OTHER_MUNICIPALITY, application, applied_grant, post_event


def this_month() -> str:
    return datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).strftime("%Y-%m")


async def test_settlement_matches_the_ledger_as_json_and_csv(client, app_key, muni_key, provider, program, db, session):
    grants = [await applied_grant(client, app_key, provider, program, f"myki-{n:04d}") for n in range(4)]
    for grant in grants[:3]:
        await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    await client.post(f"/mynapoint/grants/{grants[0]['id']}/revoke", headers=bearer(muni_key))
    month = this_month()
    answer = await client.get(f"/mynapoint/settlements?month={month}", headers=bearer(muni_key))
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["items"]
    assert (row["municipality_code"], row["provider_id"]) == (MUNICIPALITY, provider["id"])
    assert (row["credited_count"], row["credited_yen"], row["revoked_count"], row["revoked_yen"], row["net_yen"]) == (
        3,
        15_000,
        1,
        5_000,
        10_000,
    )
    posted = await session.get(Program, program["id"])
    await session.refresh(posted)
    assert row["net_yen"] == posted.posted_yen  # everything happened this month

    csv_answer = await client.get(
        f"/mynapoint/settlements?month={month}", headers=bearer(muni_key) | {"Accept": "text/csv"}
    )
    assert csv_answer.headers["content-type"].startswith("text/csv")
    lines = csv_answer.text.strip().splitlines()
    assert lines[0].split(",")[:2] == ["municipality_code", "provider_id"]
    assert lines[1].split(",")[-1] == "10000"

    provider_key = await make_key(db, "provider", provider_id=provider["id"])
    assert (
        len((await client.get(f"/mynapoint/settlements?month={month}", headers=bearer(provider_key))).json()["items"])
        == 1
    )
    other = await make_key(db, "municipality", municipality_code=OTHER_MUNICIPALITY)
    assert (await client.get(f"/mynapoint/settlements?month={month}", headers=bearer(other))).json()["items"] == []
    assert (
        await client.get(f"/mynapoint/settlements?month={month}&municipality={MUNICIPALITY}", headers=bearer(other))
    ).status_code == 403
    bad = await client.get("/mynapoint/settlements?month=2023-13", headers=bearer(muni_key))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "month"
    last_month = await client.get("/mynapoint/settlements?month=2023-06", headers=bearer(muni_key))
    assert last_month.json()["items"] == []


@pytest.mark.parametrize("month", ["9999-12", "0000-01", "0001-01"])
async def test_a_month_at_the_edge_of_the_calendar_is_a_422_naming_month(client, muni_key, month):
    answer = await client.get(f"/mynapoint/settlements?month={month}", headers=bearer(muni_key))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "month" and "9999-11" in answer.json()["error"]["message"]


async def test_the_last_and_first_representable_months_answer(client, muni_key):
    for month in ("9999-11", "0001-02"):
        answer = await client.get(f"/mynapoint/settlements?month={month}", headers=bearer(muni_key))
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []


async def test_reconcile_notices_a_total_that_drifted_from_the_ledger(client, app_key, provider, program, session):
    await applied_grant(client, app_key, provider, program)
    assert await reconcile(session) == []
    await session.exec(update(Program).where(Program.id == program["id"]).values(reserved_yen=Program.reserved_yen + 1))
    problems = await reconcile(session)
    assert any("ledger sums to" in p for p in problems) and any("live grants" in p for p in problems)


def test_the_reconcile_command_exits_non_zero_on_a_difference(tmp_path, monkeypatch):
    from common.db import Database
    from common.migrations import upgrade
    from common.reference_data import load_reference_data
    from common.settings import get_settings

    url = f"sqlite:///{tmp_path / 'reconcile.db'}"
    upgrade(url)
    monkeypatch.setenv("CHIIKI_DATABASE_URL", url)
    get_settings.cache_clear()

    async def make_program(drift: int) -> None:
        db = Database.from_url(url)
        async with db.sessionmaker() as session:
            if drift == 0:
                await load_reference_data(session)
                session.add(
                    Program(
                        id="prog_x",
                        municipality_code=MUNICIPALITY,
                        name="x",
                        kind="fixed",
                        points_per_person=1,
                        budget_yen=10,
                        opens_at=datetime.now(UTC),
                        closes_at=datetime.now(UTC),
                        provider_ids=[],
                    )
                )
                await session.flush()
                session.add(LedgerEntry(program_id="prog_x", kind="fund", budget_delta=10))
            else:
                await session.exec(update(Program).values(budget_yen=Program.budget_yen + drift))
            await session.commit()
        await db.dispose()

    try:
        asyncio.run(make_program(0))
        assert CliRunner().invoke(cli, ["mynapoint", "reconcile"]).exit_code == 0
        asyncio.run(make_program(1))
        result = CliRunner().invoke(cli, ["mynapoint", "reconcile"])
        assert result.exit_code == 1
    finally:
        get_settings.cache_clear()


operations = st.lists(
    st.tuples(st.sampled_from(["apply", "credit", "revoke", "fund"]), st.integers(min_value=0, max_value=14)),
    max_size=25,
)


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
async def test_any_sequence_of_operations_keeps_the_ledger_and_the_budget(
    client, app_key, muni_key, provider, program, session, steps
):
    """Whatever happens, committed totals equal the ledger and the live grants, within the budget."""
    url = f"/mynapoint/programs/{program['id']}/applications"
    grants: list[str] = []
    for action, n in steps:
        if action == "apply":
            answer = await client.post(url, headers=bearer(app_key), json=application(provider["id"], f"myki-{n:04d}"))
            if answer.json()["grant"] and answer.json()["grant"]["id"] not in grants:
                grants.append(answer.json()["grant"]["id"])
        elif action == "fund":
            await client.post(
                f"/mynapoint/programs/{program['id']}/funding",
                headers=bearer(muni_key),
                json={"amount_yen": 1_000 * (n + 1)},
            )
        elif grants:
            grant_id = grants[n % len(grants)]
            if action == "credit":
                await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant_id}})
            else:
                await client.post(f"/mynapoint/grants/{grant_id}/revoke", headers=bearer(muni_key))
    assert await reconcile(session) == []
    stored = await session.get(Program, program["id"])
    await session.refresh(stored)
    assert stored.reserved_yen + stored.posted_yen <= stored.budget_yen
    funded = (
        await session.exec(select(func.sum(LedgerEntry.budget_delta)).where(LedgerEntry.program_id == program["id"]))
    ).one()
    assert stored.budget_yen == funded
