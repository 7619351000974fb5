"""The subsidy endpoints through the gateway, on each database."""

import pytest

from tests.conftest import bearer, make_key

YUBARI = "012092"  # 夕張市: 全部過疎, 財政力指数 0.2 (FY2022 reference data)
ASHIBETSU = "012165"  # 芦別市: 全部過疎, 財政力指数 exactly 0.25
NUMATA = "102067"  # 沼田市: 一部過疎, 財政力指数 exactly 0.5
CHIYODA = "131016"  # 千代田区: 三大都市圏 (tokyo), not 過疎
SHIKOTAN = "016951"  # 色丹村: no 財政力指数 in the reference data
LOCAL10K = {
    "initial_investment": 20_000_002,
    "municipal_grant": 10_000_001,
    "loan_amount": 10_000_001,
    "own_funds": 0,
    "lender_type": "regional_bank",
}


async def test_catalogue_without_a_key(client):
    response = await client.get("/subsidy/programs", params={"limit": 500})
    assert response.status_code == 200
    body = response.json()
    assert len(body["items"]) == 18 and body["next_cursor"] is None
    local = next(item for item in body["items"] if item["id"] == "local10000")
    assert local["fiscal_years"] == [2022, 2023] and local["citation"] == "「ローカル10,000プロジェクト」"

    first = (await client.get("/subsidy/programs", params={"limit": 10})).json()
    rest = (await client.get("/subsidy/programs", params={"limit": 10, "cursor": first["next_cursor"]})).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == sorted(i["id"] for i in body["items"])


async def test_program_parameters_by_fiscal_year(client):
    fy22 = (await client.get("/subsidy/programs/chiiki_okoshi", params={"fiscal_year": 2022})).json()
    fy23 = (await client.get("/subsidy/programs/chiiki_okoshi", params={"fiscal_year": 2023})).json()
    cap22 = next(p for p in fy22["parameters"] if p["name"] == "recruitment_cap")
    cap23 = next(p for p in fy23["parameters"] if p["name"] == "recruitment_cap")
    assert (cap22["value"], cap22["period"], cap23["value"]) == (2_000_000, "FY2022", 3_000_000)
    assert cap22["citation"] == "「地域おこし協力隊について」"
    undated = (await client.get("/subsidy/programs/chiiki_okoshi")).json()
    assert len(next(p for p in undated["parameters"] if p["name"] == "recruitment_cap")["values"]) == 2
    assert (await client.get("/subsidy/programs/nope")).status_code == 404
    response = await client.get("/subsidy/programs/chiiki_okoshi", params={"fiscal_year": 2019})
    assert (response.status_code, response.json()["error"]["field"]) == (422, "fiscal_year")


@pytest.mark.parametrize(
    ("code", "rate", "amount"),
    [
        # 夕張市 0.2 < 0.25 → 3/4: floor(10,000,001 × 3/4) = 7,500,000; SAT floor(2,500,001 / 2) = 1,250,000
        (YUBARI, "3/4", 8_750_000),
        # 芦別市 exactly 0.25 → 2/3: 6,666,667 + floor(3,333,334 / 2) = 1,666,667
        (ASHIBETSU, "2/3", 8_333_334),
        # 沼田市 exactly 0.5 → 1/2: 5,000,000 + floor(5,000,001 / 2) = 2,500,000
        (NUMATA, "1/2", 7_500_000),
    ],
)
async def test_calculate_uses_the_reference_data(client, code, rate, amount):
    response = await client.post(
        "/subsidy/programs/local10000/calculate",
        json={"fiscal_year": 2023, "municipality_code": code, "inputs": LOCAL10K},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["breakdown"]["rate"], body["amount"], body["eligible"]) == (rate, amount, True)
    assert body["rules_version"].startswith("rules-") and body["parameters_hash"].startswith("sha256:")
    sources = {step["rule"]: step["source"] for step in body["trace"] if "source" in step}
    assert sources["local10000.municipality.kaso"] == f"reference:{code}"


async def test_explicit_attribute_overrides_the_reference_data(client):
    body = (
        await client.post(
            "/subsidy/programs/local10000/calculate",
            json={
                "fiscal_year": 2023,
                "municipality_code": YUBARI,
                "inputs": {**LOCAL10K, "fiscal_strength_index": "0.6"},
            },
        )
    ).json()
    # 0.6 is not weak → default 1/2
    assert body["breakdown"]["rate"] == "1/2"
    step = next(s for s in body["trace"] if s["rule"] == "local10000.municipality.fiscal_strength_index")
    assert (step["source"], step["result"]) == ("input", "0.6")


async def test_municipality_errors(client):
    unknown = await client.post(
        "/subsidy/programs/distributed_energy/calculate",
        json={"fiscal_year": 2023, "municipality_code": "999997", "inputs": {"plan_cost": 1}},
    )
    assert (unknown.status_code, unknown.json()["error"]["field"]) in [
        (404, "municipality_code"),
        (422, "municipality_code"),
    ]
    known = await client.post(
        "/subsidy/programs/distributed_energy/calculate",
        json={"fiscal_year": 2023, "municipality_code": CHIYODA, "inputs": {"plan_cost": 1}},
    )
    assert known.status_code == 200  # 千代田区 has a 財政力指数
    lacking = await client.post(
        "/subsidy/programs/distributed_energy/calculate",
        json={"fiscal_year": 2023, "municipality_code": SHIKOTAN, "inputs": {"plan_cost": 1}},
    )
    assert lacking.status_code == 422
    assert lacking.json()["error"]["field"] == "inputs.fiscal_strength_index"


async def test_unknown_but_well_formed_code_is_404(client):
    # 47999 with its check digit is well formed but names no municipality
    from common.codes import check_digit

    code = "47999" + check_digit("47999")
    response = await client.post(
        "/subsidy/programs/tokutei_kumiai/calculate",
        json={"fiscal_year": 2023, "municipality_code": code, "inputs": {"operating_cost": 1}},
    )
    assert (response.status_code, response.json()["error"]["field"]) == (404, "municipality_code")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/subsidy/programs/tokutei_kumiai/calculate",
            {"fiscal_year": 2030, "inputs": {"operating_cost": 1}},
            "fiscal_year",
        ),
        (
            "/subsidy/programs/tokutei_kumiai/calculate",
            {"fiscal_year": 2023, "inputs": {"operating_cost": -1}},
            "inputs.operating_cost",
        ),
        (
            "/subsidy/programs/tokutei_kumiai/calculate",
            {"fiscal_year": 2023, "inputs": {"operating_cost": 1.5}},
            "inputs.operating_cost",
        ),
        (
            "/subsidy/programs/tokutei_kumiai/calculate",
            {"fiscal_year": "2023x", "inputs": {"operating_cost": 1}},
            "fiscal_year",
        ),
        (
            "/subsidy/programs/local10000/calculate",
            {"fiscal_year": 2022, "inputs": {**LOCAL10K, "lender_type": "jfc", "disadvantaged_area": False}},
            "inputs.lender_type",
        ),
        (
            "/subsidy/programs/tokutei_kumiai/calculate",
            {"fiscal_year": 2023, "inputs": {"operating_cost": 1}, "overrides": {"bogus": "1/2"}},
            "overrides.bogus",
        ),
    ],
)
async def test_bad_requests_are_422_naming_the_field(client, path, body, field):
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_batch_keeps_order_and_reports_errors_in_place(client):
    items = [
        {"program": "tokutei_kumiai", "fiscal_year": 2023, "inputs": {"operating_cost": 8_000_000}},
        {"program": "nope", "fiscal_year": 2023, "inputs": {}},
        {"program": "distributed_energy", "fiscal_year": 2023, "municipality_code": YUBARI, "inputs": {"plan_cost": 4}},
        "not an object",
        {"program": "jichitai_mynapoint_system", "fiscal_year": 2023, "inputs": {"cost": -1}},
    ]
    response = await client.post("/subsidy/calculate/batch", json={"items": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 422, 200, 422, 422]
    # 8,000,000 × (1/4 + 1/8) = 3,000,000; 夕張市 0.2 → 3/4 × 4 = 3
    assert (results[0]["result"]["amount"], results[2]["result"]["amount"]) == (3_000_000, 3)
    assert results[1]["error"]["field"] == "program"
    assert results[4]["error"]["field"] == "inputs.cost"
    lean = (await client.post("/subsidy/calculate/batch", json={"items": items[:1], "include_trace": False})).json()
    assert "trace" not in lean["results"][0]["result"]


async def test_saved_calculation_needs_a_key_and_is_returned_unchanged(client, db, app_key, ops_key):
    body = {"program": "decarbonization_experts", "fiscal_year": 2023, "inputs": {"honoraria": 3_000_000}}
    assert (await client.post("/subsidy/calculations", json=body)).status_code == 401
    saved = await client.post("/subsidy/calculations", json=body, headers=bearer(app_key))
    assert saved.status_code == 201, saved.text
    record = saved.json()
    assert (record["amount"], record["result"]["amount"], record["inputs"]) == (500_000, 500_000, body["inputs"])
    fetched = await client.get(f"/subsidy/calculations/{record['id']}", headers=bearer(app_key))
    assert fetched.json() == record
    assert (await client.get(f"/subsidy/calculations/{record['id']}", headers=bearer(ops_key))).status_code == 200
    other_app = await make_key(db, "app")
    assert (await client.get(f"/subsidy/calculations/{record['id']}", headers=bearer(other_app))).status_code == 404
    assert (await client.get("/subsidy/calculations/calc_nope", headers=bearer(app_key))).status_code == 404


async def test_saved_calculation_survives_a_change_of_parameters(
    client, app_key, gateway_app, service_apps, monkeypatch
):
    body = {"program": "decarbonization_experts", "fiscal_year": 2023, "inputs": {"honoraria": 3_000_000}}
    record = (await client.post("/subsidy/calculations", json=body, headers=bearer(app_key))).json()
    rulebook = service_apps["subsidy"].state.rulebook
    spec = rulebook.programs["decarbonization_experts"].spec
    changed = spec.model_copy(
        update={
            "parameters": {
                **spec.parameters,
                "cost_cap": spec.parameters["cost_cap"].model_copy(
                    update={"values": [spec.parameters["cost_cap"].values[0].model_copy(update={"value": 2_000_000})]}
                ),
            }
        }
    )
    from services.subsidy.rulebook import Program, Rulebook

    moved_on = Rulebook({**rulebook.programs, "decarbonization_experts": Program(changed, "x.yaml")}, "rules-next")
    monkeypatch.setattr(service_apps["subsidy"].state, "rulebook", moved_on)
    calculation = {key: value for key, value in body.items() if key != "program"}
    now = (await client.post("/subsidy/programs/decarbonization_experts/calculate", json=calculation)).json()
    assert (now["amount"], now["rules_version"]) == (1_000_000, "rules-next")  # 2,000,000 × 1/2
    fetched = (await client.get(f"/subsidy/calculations/{record['id']}", headers=bearer(app_key))).json()
    assert fetched == record and fetched["result"]["amount"] == 500_000


async def test_municipality_key_saves_and_reads_only_its_own(client, db):
    yubari = await make_key(db, "municipality", municipality_code=YUBARI)
    chiyoda = await make_key(db, "municipality", municipality_code=CHIYODA)
    body = {
        "program": "kaso_grants",
        "fiscal_year": 2023,
        "municipality_code": YUBARI,
        "inputs": {"component": "idle_facility", "cost": 3_000_000},
    }
    saved = await client.post("/subsidy/calculations", json=body, headers=bearer(yubari))
    assert saved.status_code == 201 and saved.json()["amount"] == 1_000_000  # 3,000,000 × 1/3
    foreign = await client.post("/subsidy/calculations", json=body, headers=bearer(chiyoda))
    assert (foreign.status_code, foreign.json()["error"]["field"]) == (403, "municipality_code")
    read = await client.get(f"/subsidy/calculations/{saved.json()['id']}", headers=bearer(chiyoda))
    assert read.status_code == 404


async def test_a_calculation_matches_its_documented_shape(client, service_apps):
    from services.subsidy.schemas import CalculationResult

    body = (
        await client.post(
            "/subsidy/programs/kaso_grants/calculate",
            json={
                "fiscal_year": 2023,
                "inputs": {"component": "network", "cost": 1, "with_ict": True},
                "overrides": {"network_cap": 1},
            },
        )
    ).json()
    result = CalculationResult.model_validate(body)
    assert result.trace[0].parameters[0].overridden is True
    assert "CalculationResult" in service_apps["subsidy"].openapi()["components"]["schemas"]
