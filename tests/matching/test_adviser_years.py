"""The adviser's three years (最大３年間), counted from the recorded matches and shown where matching decides."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import update

from common.adviser_years import AdviserYears, years_of_use
from common.models import MatchTransition
from tests.harness import bearer
from tests.matching.builders import HIMI, SAPPORO, YUBARI, add_adviser, add_need, move

FY = 2030  # far enough ahead that every recorded year is before it, whatever today is


async def advisor_match(client, ops, adviser, code=YUBARI) -> dict:
    response = await client.post(
        "/matching/matches",
        headers=ops,
        json={"market": "advisor", "municipality_code": code, "adviser_id": adviser["id"]},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def served(client, ops, session, adviser, fiscal_years: tuple[int, int] | None) -> dict:
    """An advisor match moved to active (and completed), its moves dated inside the given fiscal years."""
    match = await advisor_match(client, ops, adviser)
    for to in ("accepted", "agreement_signed", "active") + (("completed",) if fiscal_years else ()):
        assert (await move(client, ops, match, to)).status_code == 200
    if fiscal_years:
        began, ended = fiscal_years
        for to, year in (("active", began), ("completed", ended)):
            await session.exec(
                update(MatchTransition)
                .where(MatchTransition.match_id == match["id"], MatchTransition.to_status == to)
                .values(at=datetime(year, 6, 1, tzinfo=UTC))
            )
        await session.commit()
    return match


async def years(client, headers, code=YUBARI, fiscal_year=FY) -> dict:
    response = await client.get(
        f"/matching/municipalities/{code}/adviser-years", headers=headers, params={"fiscal_year": fiscal_year}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_years_come_from_active_spans_and_the_fourth_is_past_the_limit(client, ops, app_key, session):
    first = await add_adviser(client, ops, "First", home=SAPPORO)
    second = await add_adviser(client, ops, "Second", home=SAPPORO)
    assert (await years(client, bearer(app_key)))["years_used"] == []
    await served(client, ops, session, first, (2025, 2026))
    await served(client, ops, session, second, (2026, 2027))  # 2026 counts once
    body = await years(client, bearer(app_key))
    assert (body["years_used"], body["year_of_use"], body["max_years"], body["within_limit"]) == (
        [2025, 2026, 2027],
        4,
        3,
        False,
    )
    third_year = await years(client, bearer(app_key), fiscal_year=2027)
    assert (third_year["year_of_use"], third_year["within_limit"]) == (3, True)
    assert (await years(client, bearer(app_key), code=HIMI))["year_of_use"] == 1

    await add_need(client, ops, code=YUBARI, market="advisor", fields=["tourism"])
    another = await add_adviser(client, ops, "Another", home=SAPPORO)
    response = await client.get(
        "/matching/recommendations",
        headers=bearer(app_key),
        params={"market": "advisor", "for": f"municipality:{YUBARI}", "fiscal_year": FY, "explain": "true"},
    )
    body = response.json()
    assert body["adviser_years"]["year_of_use"] == 4 and body["items"] == []
    assert {r["code"] for e in body["excluded"] for r in e["reasons"]} == {"advisor_years_exceeded"}
    pair = (
        await client.get(
            "/matching/eligibility",
            headers=bearer(app_key),
            params={
                "market": "advisor",
                "municipality": YUBARI,
                "partner": f"adviser:{another['id']}",
                "fiscal_year": 2027,
            },
        )
    ).json()
    assert (pair["eligible"], pair["adviser_years"]["year_of_use"]) == (True, 3)


async def test_a_match_still_active_counts_up_to_the_current_year(client, ops, app_key, session):
    adviser = await add_adviser(client, ops, "Ongoing", home=SAPPORO)
    await served(client, ops, session, adviser, None)
    body = await years(client, bearer(app_key))
    assert len(body["years_used"]) == 1 and body["year_of_use"] == 2


async def test_unknown_municipalities_are_4xx(client, app_key):
    response = await client.get("/matching/municipalities/012093/adviser-years", headers=bearer(app_key))
    assert (response.status_code, response.json()["error"]["field"]) == (422, "code")


@given(st.lists(st.tuples(st.integers(2020, 2030), st.integers(0, 3)), max_size=4), st.integers(2020, 2034))
def test_year_of_use_is_one_plus_the_years_used_before(spans, fiscal_year):
    activity = [
        (datetime(start, 5, 1, tzinfo=UTC), datetime(start + length, 5, 1, tzinfo=UTC)) for start, length in spans
    ]
    used = years_of_use(activity, now_year=2040)
    assert used == {year for start, length in spans for year in range(start, start + length + 1)}
    counted = AdviserYears(YUBARI, fiscal_year, tuple(sorted(used)), 3)
    assert counted.year_of_use == 1 + len([year for year in used if year < fiscal_year])
    assert bool(counted.reasons()) == (counted.year_of_use > 3)


def test_a_fiscal_year_begins_on_1_april_in_japan():
    # 2026-03-31 15:30 UTC is 1 April 00:30 JST: fiscal year 2026 already.
    assert years_of_use([(datetime(2026, 3, 31, 15, 30, tzinfo=UTC), None)], now_year=2026) == {2026}
    assert years_of_use([(datetime(2026, 3, 31, 14, 30, tzinfo=UTC), None)], now_year=2026) == {2025, 2026}
