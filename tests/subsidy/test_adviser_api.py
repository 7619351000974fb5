"""The adviser endpoints through the gateway, on each database: finder, timeline, compare, impact runs."""

import csv
import io
from fractions import Fraction
from pathlib import Path

from sqlmodel import select

from common.models import Municipality, SubsidyImpactJob
from services.subsidy import impact
from services.subsidy.reference import read_reference
from services.subsidy.rulebook import get_rulebook
from services.subsidy.service import compute
from tests.conftest import bearer

YUBARI = "012092"  # 夕張市: 全部過疎, 財政力指数 0.2
CHIYODA = "131016"  # 千代田区: 三大都市圏 (tokyo), not 過疎, 財政力指数 0.87
MASTER = Path(__file__).resolve().parents[2] / "data" / "municipalities_master.csv"


def _items(body: dict) -> dict:
    return {item["program"]: item for item in body["items"]}


async def test_finder_for_a_kaso_town_with_empty_inputs(client):
    response = await client.post("/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI})
    assert response.status_code == 200, response.text
    items = _items(response.json())
    assert len(items) == 18
    energy = items["distributed_energy"]
    assert energy["status"] == "needs_inputs"
    assert [(i["name"], i["type"]) for i in energy["missing_inputs"]] == [("plan_cost", "integer")]
    # highly_novel may still be true: 10/10 of the 20,000,000 cap
    assert energy["max_amount"] == 20_000_000
    assert items["decarbonization_experts"]["max_amount"] == 500_000  # floor(1,000,000 cap × 1/2)
    assert items["advisor"]["max_amount"] == 5_600_000  # the larger cap: private expert 5,600,000
    assert items["project_manager"]["max_amount"] == 13_000_000  # 6,500,000 × at most 2 persons
    assert items["teiju_jiritsuken"]["max_amount"] == 85_000_000  # central city 85,000,000 > neighbour 18,000,000
    assert items["kaso_bond"]["status"] == "needs_inputs" and "max_amount" not in items["kaso_bond"]  # no cap
    chiiki_okoshi = items["chiiki_okoshi"]  # every input optional, none given: all of them are still open
    assert chiiki_okoshi["status"] == "needs_inputs" and "max_amount" not in chiiki_okoshi
    assert {"recruitment_cost", "members", "startups"} <= {i["name"] for i in chiiki_okoshi["missing_inputs"]}
    obog = items["okoshi_obog_network"]
    assert obog["status"] == "ineligible" and obog["reasons"][0]["code"] == "not_a_prefecture"
    assert obog["reasons"][0]["citation"] == "「地域おこし協力隊 ＯＢ・ＯＧ等によるサポートの支援」"


async def test_finder_for_a_tokyo_ward_with_empty_inputs(client):
    items = _items(
        (await client.post("/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": CHIYODA})).json()
    )
    bond = items["kaso_bond"]
    assert bond["status"] == "ineligible" and [r["code"] for r in bond["reasons"]] == ["not_kaso"]
    assert bond["reasons"][0]["citation"] == "「過疎対策事業債」"
    assert items["distributed_energy"]["max_amount"] == 20_000_000  # highly novel: 10/10 whatever the index


PARTIAL = {"plan_cost": 30_000_000, "component": "network", "with_ict": True, "adviser_type": "municipal_staff"}


async def test_finder_with_partial_inputs(client):
    yubari = _items(
        (
            await client.post(
                "/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": PARTIAL}
            )
        ).json()
    )
    # 財政力指数 0.2 < 0.25 → 3/4 of min(30,000,000, 20,000,000) = 15,000,000
    assert (yubari["distributed_energy"]["status"], yubari["distributed_energy"]["amount"]) == ("eligible", 15_000_000)
    grants = yubari["kaso_grants"]
    # network cap 15,000,000 + at most the 15,000,000 addition for specialists and ICT (specialists not yet said)
    assert (grants["status"], grants["max_amount"]) == ("needs_inputs", 30_000_000)
    assert [i["name"] for i in grants["missing_inputs"]] == ["cost"]
    assert yubari["advisor"]["max_amount"] == 2_400_000  # municipal staff cap
    chiyoda = _items(
        (
            await client.post(
                "/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": CHIYODA, "inputs": PARTIAL}
            )
        ).json()
    )
    # 財政力指数 0.87 → 1/2 of 20,000,000 = 10,000,000
    assert chiyoda["distributed_energy"]["amount"] == 10_000_000
    assert chiyoda["kaso_grants"]["max_amount"] == 30_000_000  # the network component is not only for 過疎
    # 集落再編 at 1/2 of a cost of 3,000,000 would be 1,500,000, but 千代田区 is not 過疎
    idle = _items(
        (
            await client.post(
                "/subsidy/finder",
                json={
                    "fiscal_year": 2023,
                    "municipality_code": CHIYODA,
                    "inputs": {"component": "settlement_reorganization", "cost": 3_000_000},
                },
            )
        ).json()
    )["kaso_grants"]
    assert idle["status"] == "ineligible" and idle["reasons"][0]["code"] == "not_kaso"


async def test_finder_defaults_to_the_latest_fiscal_year_with_a_notice(client):
    response = await client.post("/subsidy/finder", json={"municipality_code": YUBARI})
    energy = _items(response.json())["distributed_energy"]
    assert energy["fiscal_year"] == 2023 and "FY2023 applied" in energy["notice"]
    unknown = await client.post("/subsidy/finder", json={"municipality_code": "999997"})
    assert unknown.status_code in (404, 422) and unknown.json()["error"]["field"] == "municipality_code"


async def test_calculation_without_fiscal_year_uses_the_latest_and_says_so(client):
    body = (
        await client.post("/subsidy/programs/tokutei_kumiai/calculate", json={"inputs": {"operating_cost": 8_000_000}})
    ).json()
    assert body["fiscal_year"] == 2023 and "notice" in body
    assert body["amount"] == 3_000_000  # 1/4 national + 1/8 special allocation tax of 8,000,000


async def test_unknown_program_in_a_path_is_404_naming_the_known_ones(client):
    for path in ("/subsidy/programs/nope/calculate", "/subsidy/programs/nope/compare"):
        response = await client.post(path, json={"baseline": {}, "reform": {}} if "compare" in path else {})
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["field"]) == (404, "unknown_program", "program")
        assert "local10000" in error["message"]
    timeline = await client.get("/subsidy/programs/nope/timeline")
    assert (timeline.status_code, timeline.json()["error"]["code"]) == (404, "unknown_program")
    batch = (await client.post("/subsidy/calculate/batch", json={"items": [{"program": "nope"}]})).json()
    assert batch["results"][0]["status"] == 422 and batch["results"][0]["error"]["code"] == "invalid_program"


async def test_timeline_of_the_recruitment_cap(client):
    response = await client.get("/subsidy/programs/chiiki_okoshi/timeline")
    assert response.status_code == 200
    body = response.json()
    cap = next(p for p in body["parameters"] if p["name"] == "recruitment_cap")
    # 200万円/１団体 in FY2022, raised to 300万円 in FY2023 (「300万円/１団体を上限（200万円/１団体から引上げ）」)
    assert [(v["fiscal_year"], v["value"], v["changed"]) for v in cap["values"]] == [
        (2022, 2_000_000, False),
        (2023, 3_000_000, True),
    ]
    assert cap["changed_in"] == [2023] and cap["values"][1]["previous_value"] == 2_000_000
    assert {v["citation"] for v in cap["values"]} == {"「地域おこし協力隊について」"}
    assert {"recruitment_cap", "support_cap", "startup_first_service_year"} <= set(body["changed"])
    assert "trial_cap" not in body["changed"]


OKOSHI = {
    "recruitment_cost": 3_500_000,
    "support_cost": 2_100_000,
    "startups": [{"cost": 1_200_000, "service_year": 2}],
}


async def test_compare_fy2022_with_fy2023_for_the_okoshi_program(client):
    response = await client.post(
        "/subsidy/programs/chiiki_okoshi/compare",
        json={"inputs": OKOSHI, "baseline": {"fiscal_year": 2022}, "reform": {"fiscal_year": 2023}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # FY2022: recruitment min(3,500,000, 2,000,000); no daily support yet; a start-up in year 2 of a 3-year term is
    # before the final year → 2,000,000. FY2023: 3,000,000 + min(2,100,000, 2,000,000) + min(1,200,000,
    # 1,000,000) (from the 2nd year) = 6,000,000
    assert (body["baseline"]["amount"], body["reform"]["amount"]) == (2_000_000, 6_000_000)
    assert body["difference"]["amount"] == 4_000_000
    lines = body["difference"]["breakdown"]
    assert (lines["recruitment"], lines["support"], lines["startup"], lines["trial"]) == (
        1_000_000,
        2_000_000,
        1_000_000,
        0,
    )
    steps = {step["rule"]: step for step in body["changed_steps"]}
    assert "chiiki_okoshi.trial" not in steps  # same cap, same result
    recruitment = steps["chiiki_okoshi.recruitment"]
    assert (recruitment["baseline_result"], recruitment["reform_result"]) == (2_000_000, 3_000_000)
    cap = recruitment["parameters"][0]
    assert (cap["name"], cap["baseline_value"], cap["reform_value"]) == ("recruitment_cap", 2_000_000, 3_000_000)
    assert cap["baseline_citation"] == cap["reform_citation"] == "「地域おこし協力隊について」"
    first_year = next(
        p for p in steps["chiiki_okoshi.startup[0]"]["parameters"] if p["name"] == "startup_first_service_year"
    )
    assert (first_year["baseline_value"], first_year["reform_value"]) == (None, 2)


async def test_compare_an_override_with_the_published_rules(client):
    body = (
        await client.post(
            "/subsidy/programs/chiiki_okoshi/compare",
            json={
                "inputs": OKOSHI,
                "baseline": {"fiscal_year": 2023},
                "reform": {"fiscal_year": 2023, "overrides": {"recruitment_cap": 4_000_000}},
            },
        )
    ).json()
    # the cost of 3,500,000 now fits under the cap: +500,000
    unchanged = dict.fromkeys(("trial", "intern", "activity", "support", "startup", "vacant_house"), 0)
    assert body["difference"] == {
        "amount": 500_000,
        "breakdown": {**unchanged, "recruitment": 500_000, "total": 500_000},
    }
    assert [s["rule"] for s in body["changed_steps"]] == ["chiiki_okoshi.recruitment", "chiiki_okoshi.total"]
    bad = await client.post(
        "/subsidy/programs/chiiki_okoshi/compare",
        json={"inputs": OKOSHI, "baseline": {"fiscal_year": 2019}, "reform": {"fiscal_year": 2023}},
    )
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "baseline.fiscal_year")


def _expected_gains() -> tuple[int, int]:
    """From the CSV itself: 0.25 ≤ 財政力指数 < 0.5 gains from 2/3 to 3/4; rows without an index cannot be run."""
    gains = errors = 0
    with MASTER.open(encoding="utf-8") as source:
        for row in csv.DictReader(source):
            if not row["fiscal_strength_index"]:
                errors += 1
            elif Fraction(1, 4) <= Fraction(row["fiscal_strength_index"]) < Fraction(1, 2):
                gains += 1
    return gains, errors


async def test_impact_run_over_every_municipality(client, app_key, db, local_services):
    response = await client.post(
        "/subsidy/impact",
        headers=bearer(app_key),
        json={
            "program": "distributed_energy",
            "fiscal_year": 2023,
            "inputs": {"plan_cost": 10_000_000},
            "overrides": {"weak_rate": "3/4"},
        },
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert location == f"/subsidy/impact/{response.json()['id']}"
    await local_services.settled()  # the run is the service's background task, after its answer
    job = (await client.get(location, headers=bearer(app_key))).json()
    assert job["status"] == "done" and job["progress"] == {"done": 1794, "total": 1794}
    rows = {row["code"]: row for row in job["result"]["rows"]}
    # 夕張市 0.2 → 3/4 either way: 7,500,000; 芦別市 exactly 0.25 → 2/3: 6,666,666, reform 3/4: 7,500,000
    assert (rows[YUBARI]["baseline_amount"], rows[YUBARI]["difference"]) == (7_500_000, 0)
    assert (rows["012165"]["baseline_amount"], rows["012165"]["reform_amount"]) == (6_666_666, 7_500_000)
    totals = job["result"]["totals"]
    gains, errors = _expected_gains()
    assert (totals["municipalities"], totals["gain"], totals["lose"], totals["errors"]) == (1794, gains, 0, errors)
    async with db.reader() as session:
        reference = await read_reference(session)
    singles = [
        compute(get_rulebook(), "distributed_energy", 2023, {"plan_cost": 10_000_000}, {}, m, include_trace=False)
        for m in reference.by_code.values()
        if m.attributes["fiscal_strength_index"].value is not None
    ]
    assert totals["baseline_amount"] == sum(s["amount"] for s in singles)
    assert totals["reform_amount"] - totals["baseline_amount"] == totals["difference"] == 833_334 * gains
    text = (await client.get(location, headers={**bearer(app_key), "Accept": "text/csv"})).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 1794 and next(r for r in table if r["code"] == "012165")["difference"] == "833334"


async def test_impact_request_errors_are_422_naming_the_field(client, app_key):
    for body, field in [
        ({"program": "nope"}, "program"),
        ({"program": "distributed_energy", "fiscal_year": 2019}, "fiscal_year"),
        ({"program": "distributed_energy", "overrides": {"bogus": 1}}, "overrides.bogus"),
        ({"program": "distributed_energy", "inputs": {"plan_cost": -1}}, "inputs.plan_cost"),
    ]:
        response = await client.post("/subsidy/impact", headers=bearer(app_key), json=body)
        assert (response.status_code, response.json()["error"]["field"]) == (422, field), response.text
    assert (await client.post("/subsidy/impact", json={"program": "distributed_energy"})).status_code == 401


async def test_an_unfinished_impact_job_is_run_again_at_start(service_apps, db):
    app = service_apps["subsidy"]
    async with db.sessionmaker() as session:
        session.add(
            SubsidyImpactJob(
                id="impact_restart_test",
                program="okoshi_obog_network",
                fiscal_year=2023,
                inputs={"startup_cost": 1_500_000},
                status="running",
                done=400,
                total=1794,
            )
        )
        await session.commit()
    await impact.resume_unfinished(app)
    for task in list(app.state.impact_tasks):
        await task
    async with db.reader() as session:
        job = await session.get(SubsidyImpactJob, "impact_restart_test")
    assert job is not None and job.status == "done" and job.done == 1794
    # only the 47 prefectures qualify, each for min(1,500,000, 1,000,000)
    assert job.result["totals"]["baseline_amount"] == 47 * 1_000_000
    assert job.result["totals"]["baseline_eligible"] == 47


async def test_reference_data_is_reloaded_when_the_table_changes(service_apps, db):
    store = service_apps["subsidy"].state.reference
    before = await store.current(db)
    assert await store.refresh(db) is False  # unchanged: the same snapshot stays
    async with db.sessionmaker() as session:
        row = (await session.exec(select(Municipality).where(Municipality.code == YUBARI))).one()
        row.fiscal_strength_index = "0.6"
        session.add(row)
        await session.commit()
    assert await store.refresh(db) is True
    after = await store.current(db)
    assert before.by_code[YUBARI].attributes["fiscal_strength_index"].value == Fraction(1, 5)
    assert after.by_code[YUBARI].attributes["fiscal_strength_index"].value == Fraction(3, 5)


LOCAL10K = {
    "initial_investment": 40_000_000,
    "municipal_grant": 10_000_000,
    "loan_amount": 20_000_000,
    "own_funds": 10_000_000,
    "lender_type": "jfc",
}


async def test_the_one_municipality_read_answers_from_the_snapshot_the_calculations_read(
    client, service_apps, db, app_key
):
    store = service_apps["subsidy"].state.reference

    async def read_and_calculate() -> tuple[str, str]:
        read = await client.get(f"/subsidy/municipalities/{YUBARI}", headers=bearer(app_key))
        calculation = await client.post(
            "/subsidy/programs/local10000/calculate",
            json={"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": LOCAL10K},
        )
        step = next(
            s for s in calculation.json()["trace"] if s["rule"] == "local10000.municipality.fiscal_strength_index"
        )
        return read.json()["fiscal_strength_index"], step["result"]

    assert await read_and_calculate() == ("0.2", "0.2")
    async with db.sessionmaker() as session:
        row = (await session.exec(select(Municipality).where(Municipality.code == YUBARI))).one()
        row.fiscal_strength_index = "0.6"
        session.add(row)
        await session.commit()
    assert await read_and_calculate() == ("0.2", "0.2")  # both until the snapshot is refreshed
    assert await store.refresh(db) is True
    assert await read_and_calculate() == ("0.6", "0.6")


async def test_a_change_to_a_column_only_the_municipality_read_shows_is_a_new_snapshot(
    client, service_apps, db, app_key
):
    store = service_apps["subsidy"].state.reference
    before = (await client.get(f"/subsidy/municipalities/{YUBARI}", headers=bearer(app_key))).json()
    async with db.sessionmaker() as session:
        row = (await session.exec(select(Municipality).where(Municipality.code == YUBARI))).one()
        row.name_en, row.area_km2 = "Yubari City", "763.07"
        session.add(row)
        await session.commit()
    assert await store.refresh(db) is True
    after = (await client.get(f"/subsidy/municipalities/{YUBARI}", headers=bearer(app_key))).json()
    assert (before["name_en"], after["name_en"], after["area_km2"]) == ("Yubari-shi", "Yubari City", "763.07")
