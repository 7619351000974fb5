"""Roster uploads at size: answered within the gateway's timeout (past it the gateway answers 504; the speed
itself is bench/roster.py's), refused up front when too large, and an upload that repeats residents updates them
(COPY on PostgreSQL, executemany on SQLite)."""

from sqlmodel import func, select

from common.models import RosterEntry
from services.mynapoint import roster_upload
from tests.conftest import bearer

CSV_HEADER = "myki_id,birth_date,household_with_children,income_band,activity_participation\n"


def csv_roster(prefix: str, count: int, income_band: int = 1) -> str:
    return CSV_HEADER + "".join(f"{prefix}-{n:06d},1985-06-01,true,{income_band},1\n" for n in range(count))


async def roster_size(session, program_id: str) -> int:
    return (
        await session.exec(select(func.count()).select_from(RosterEntry).where(RosterEntry.program_id == program_id))
    ).one()


async def test_the_issues_14000_row_roster_is_answered_through_the_gateway(client, muni_key, program, session):
    text = csv_roster("bulk", 14_000)  # the 392 KB roster of the issue, which answered 504 and committed later
    answer = await client.post(
        f"/mynapoint/programs/{program['id']}/roster",
        headers=bearer(muni_key) | {"content-type": "text/csv"},
        content=text,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"upserted": 14_000, "errors": []}
    assert await roster_size(session, program["id"]) == 14_000 + 20


async def test_an_upload_repeating_residents_updates_them(client, muni_key, program, session):
    url, headers = f"/mynapoint/programs/{program['id']}/roster", bearer(muni_key) | {"content-type": "text/csv"}
    for band in (1, 7):  # twice in the same outer transaction on the test database: the staging table is reused
        answer = await client.post(url, headers=headers, content=csv_roster("again", 300, income_band=band))
        assert answer.json() == {"upserted": 300, "errors": []}
    bands = (
        await session.exec(
            select(RosterEntry.income_band)
            .where(RosterEntry.program_id == program["id"], RosterEntry.income_band.is_not(None))
            .distinct()
        )
    ).all()
    assert await roster_size(session, program["id"]) == 300 + 20
    assert sorted(bands) == [2, 7]  # the program fixture's 20 residents have band 2


async def test_an_upload_over_the_row_limit_is_refused_naming_the_limit_before_anything_is_written(
    client, muni_key, program, session, monkeypatch
):
    monkeypatch.setattr(roster_upload, "MAX_ROSTER_ROWS", 100)
    url = f"/mynapoint/programs/{program['id']}/roster"
    for body in (
        {"content": csv_roster("big", 101), "headers": bearer(muni_key) | {"content-type": "text/csv"}},
        {"json": {"residents": [{"myki_id": f"big-{n:04d}"} for n in range(101)]}, "headers": bearer(muni_key)},
    ):
        answer = await client.post(url, **body)
        assert answer.status_code == 413, answer.text
        error = answer.json()["error"]
        assert error["code"] == "payload_too_large" and error["field"] == "residents" and "100 rows" in error["message"]
    assert await roster_size(session, program["id"]) == 20
    exactly = await client.post(
        url, headers=bearer(muni_key) | {"content-type": "text/csv"}, content=csv_roster("edge", 100)
    )
    assert exactly.json() == {"upserted": 100, "errors": []}


async def test_a_nul_in_a_roster_row_is_that_rows_error(client, muni_key, program, session):
    rows = [
        {"myki_id": "nul-0001"},
        {"myki_id": "nul\x000002"},
        {"myki_id": "nul-0003", "birth_date": "1990-01-01\x00"},
    ]
    answer = await client.post(
        f"/mynapoint/programs/{program['id']}/roster", headers=bearer(muni_key), json={"residents": rows}
    )
    assert answer.status_code == 200, answer.text
    assert [(e["row"], e["field"]) for e in answer.json()["errors"]] == [(2, "myki_id"), (3, "birth_date")]
    assert await roster_size(session, program["id"]) == 20
