"""A program's balances over time (GET /mynapoint/programs/{id}/balance-history), the budget chart's data: one
item per Japan-time day with a movement, each the balances once that day's movements are in."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import col

from common.models import LedgerEntry, Program
from common.timeutil import JST
from tests.conftest import bearer, make_key
from tests.mynapoint.builders import OTHER_MUNICIPALITY, applied_grant, fresh, post_event


def history_of(client, key: str, program: dict):
    return client.get(f"/mynapoint/programs/{program['id']}/balance-history", headers=bearer(key))


async def test_todays_movements_make_one_day_that_equals_the_programs_balances(
    client, app_key, muni_key, provider, program, session
):
    await client.post(
        f"/mynapoint/programs/{program['id']}/funding", headers=bearer(muni_key), json={"amount_yen": 20_000}
    )
    grants = [await applied_grant(client, app_key, provider, program, f"myki-{n:04d}") for n in range(3)]
    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grants[0]["id"]}})

    answer = await history_of(client, muni_key, program)
    assert answer.status_code == 200, answer.text
    (today,) = answer.json()["days"]
    stored = await fresh(session, Program, program["id"])
    assert today == {
        "day": datetime.now(JST).date().isoformat(),
        "budget_yen": stored.budget_yen,
        "reserved_yen": stored.reserved_yen,
        "posted_yen": stored.posted_yen,
    }
    assert (stored.budget_yen, stored.reserved_yen, stored.posted_yen) == (70_000, 10_000, 5_000)


async def test_days_are_japan_time_days_and_each_carries_the_balances_so_far(
    client, app_key, muni_key, provider, program, session
):
    grant = await applied_grant(client, app_key, provider, program, "myki-0001")
    await post_event(client, provider, {"type": "grant.credited", "data": {"grant_id": grant["id"]}})
    # The initial budget at 23:59 JST on 31 May, the reservation at 00:00 JST on 1 June, the post a day later.
    moved_at = {
        "fund": datetime(2023, 5, 31, 14, 59, 59, tzinfo=UTC),
        "reserve": datetime(2023, 5, 31, 15, 0, 0, tzinfo=UTC),
        "post": datetime(2023, 6, 2, 3, 0, 0, tzinfo=UTC),
    }
    for kind, at in moved_at.items():
        await session.exec(
            update(LedgerEntry)
            .where(col(LedgerEntry.program_id) == program["id"], col(LedgerEntry.kind) == kind)
            .values(created_at=at)
        )
    await session.commit()

    days = (await history_of(client, muni_key, program)).json()["days"]
    assert days == [
        {"day": "2023-05-31", "budget_yen": 50_000, "reserved_yen": 0, "posted_yen": 0},
        {"day": "2023-06-01", "budget_yen": 50_000, "reserved_yen": 5_000, "posted_yen": 0},
        {"day": "2023-06-02", "budget_yen": 50_000, "reserved_yen": 0, "posted_yen": 5_000},
    ]


async def test_another_municipalitys_program_is_not_found_and_a_provider_may_not_read_it(
    client, db, ops_key, provider, program
):
    other = await make_key(db, "municipality", municipality_code=OTHER_MUNICIPALITY)
    hidden = await history_of(client, other, program)
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "not_found")
    provider_key = await make_key(db, "provider", provider_id=provider["id"])
    refused = await history_of(client, provider_key, program)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert (await history_of(client, ops_key, program)).status_code == 200
