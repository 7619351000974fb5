"""The advisor program's `year_of_use` comes from the municipality's recorded advisor matches when a request names
the municipality and leaves the input out (the count matching uses: common/adviser_years.py); a given value wins.
On each database: calculate, batch, finder and a saved calculation."""

from datetime import UTC, datetime

from sqlmodel import update

from common.models import MatchTransition
from tests.harness import bearer
from tests.matching.builders import HIMI, SAPPORO, YUBARI, add_adviser, created, move

ADVISOR_INPUTS = {
    "adviser_type": "private_expert",
    "cost": 3_000_000,
    "invitation_days": 10,
    "adviser_lives_outside": True,
}
ADVISOR = {"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": ADVISOR_INPUTS}


async def active_since(client, ops, session, fiscal_year: int, code: str = YUBARI) -> None:
    """An advisor match of `code`, active since June of `fiscal_year` and still active."""
    adviser = await add_adviser(client, ops, f"Adviser {fiscal_year}", home=SAPPORO)
    match = created(
        await client.post(
            "/matching/matches",
            headers=ops,
            json={"market": "advisor", "municipality_code": code, "adviser_id": adviser["id"]},
        )
    )
    for to in ("accepted", "agreement_signed", "active"):
        assert (await move(client, ops, match, to)).status_code == 200
    await session.exec(
        update(MatchTransition)
        .where(MatchTransition.match_id == match["id"], MatchTransition.to_status == "active")
        .values(at=datetime(fiscal_year, 6, 1, tzinfo=UTC))
    )
    await session.commit()


async def calculate(client, body: dict) -> dict:
    response = await client.post("/subsidy/programs/advisor/calculate", json=body)
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


def year_used(result: dict) -> int:
    [conditions] = [step for step in result["trace"] if step["rule"] == "advisor.conditions"]
    year: int = conditions["inputs"]["year_of_use"]
    return year


async def test_a_match_active_since_last_fiscal_year_makes_this_one_the_second(client, ops_key, session):
    ops = bearer(ops_key)
    first = await calculate(client, ADVISOR)
    assert (year_used(first), first["eligible"], first["amount"]) == (1, True, 3_000_000)
    await active_since(client, ops, session, 2022)
    second = await calculate(client, ADVISOR)
    assert (year_used(second), second["eligible"], second["amount"]) == (2, True, 3_000_000)
    explicit = await calculate(client, ADVISOR | {"inputs": ADVISOR_INPUTS | {"year_of_use": 3}})
    assert year_used(explicit) == 3
    elsewhere = await calculate(client, ADVISOR | {"municipality_code": HIMI})
    assert year_used(elsewhere) == 1
    anonymous_town = await calculate(
        client,
        ADVISOR | {"municipality_code": None, "inputs": ADVISOR_INPUTS | {"kaso": True, "in_three_metro_areas": False}},
    )
    assert year_used(anonymous_town) == 1


async def test_past_the_third_year_the_amount_is_zero_everywhere(client, ops_key, session):
    ops = bearer(ops_key)
    await active_since(client, ops, session, 2020)  # 2020, 2021, 2022 used: FY2023 is the fourth year
    result = await calculate(client, ADVISOR)
    assert (year_used(result), result["eligible"], result["amount"]) == (4, False, 0)
    assert [reason["code"] for reason in result["reasons"]] == ["advisor_years_exceeded"]
    assert year_used(await calculate(client, {**ADVISOR, "fiscal_year": 2022})) == 3  # 2020 and 2021 before it

    batch = await client.post(
        "/subsidy/calculate/batch",
        json={
            "items": [
                {"program": "advisor", **ADVISOR},
                {"program": "advisor", **ADVISOR, "municipality_code": HIMI},
                {"program": "advisor", **ADVISOR, "inputs": ADVISOR_INPUTS | {"year_of_use": 1}},
                "not an object",
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [item["status"] for item in results] == [200, 200, 200, 422]
    assert [item["result"]["amount"] for item in results[:3]] == [0, 3_000_000, 3_000_000]

    found = await client.post(
        "/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": ADVISOR_INPUTS}
    )
    advisor = next(item for item in found.json()["items"] if item["program"] == "advisor")
    assert (advisor["status"], advisor["reasons"][0]["code"]) == ("ineligible", "advisor_years_exceeded")
    empty = await client.post("/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI})
    advisor = next(item for item in empty.json()["items"] if item["program"] == "advisor")
    assert (advisor["status"], advisor["reasons"][0]["code"]) == ("ineligible", "advisor_years_exceeded")

    saved = await client.post("/subsidy/calculations", headers=ops, json={"program": "advisor", **ADVISOR})
    assert saved.status_code == 201, saved.text
    assert (saved.json()["inputs"]["year_of_use"], saved.json()["amount"]) == (4, 0)


async def test_the_finder_counts_a_recorded_year_as_known(client, ops_key, session):
    await active_since(client, bearer(ops_key), session, 2022)
    found = await client.post(
        "/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": ADVISOR_INPUTS}
    )
    advisor = next(item for item in found.json()["items"] if item["program"] == "advisor")
    assert (advisor["status"], advisor["amount"]) == ("eligible", 3_000_000)
    empty = await client.post("/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI})
    advisor = next(item for item in empty.json()["items"] if item["program"] == "advisor")
    assert advisor["status"] == "needs_inputs"
    assert "year_of_use" not in {missing["name"] for missing in advisor["missing_inputs"]}


async def test_only_a_calculation_that_needs_the_record_reads_the_database(client, service_apps):
    """Once the reference snapshot is in memory a calculation needs no database, but an advisor calculation that
    leaves `year_of_use` out reads the record: with the database gone the one answers and the other is a 503."""
    from common.db import Database

    other = {"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": {"plan_cost": 30_000_000}}
    assert (await client.post("/subsidy/programs/distributed_energy/calculate", json=other)).status_code == 200
    subsidy = service_apps["subsidy"]
    reachable, subsidy.state.db = (
        subsidy.state.db,
        Database.from_url("postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=1"),
    )
    try:
        answered = await client.post("/subsidy/programs/distributed_energy/calculate", json=other)
        given = await client.post(
            "/subsidy/programs/advisor/calculate", json={**ADVISOR, "inputs": {**ADVISOR_INPUTS, "year_of_use": 2}}
        )
        recorded = await client.post("/subsidy/programs/advisor/calculate", json=ADVISOR)
    finally:
        await subsidy.state.db.dispose()
        subsidy.state.db = reachable
    assert (answered.status_code, given.status_code) == (200, 200)
    assert (recorded.status_code, recorded.json()["error"]["code"]) == (503, "database_unavailable")
