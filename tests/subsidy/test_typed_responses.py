"""Each subsidy answer is what its response model (and so the OpenAPI document) says: it validates, and the model
declares every key of it, nested ones too, so that a generated client sees every field the service sends."""

import pytest
from pydantic import BaseModel

from services.subsidy.schemas import (
    LOCAL10000_INPUTS,
    BatchResult,
    CalculationResult,
    Comparison,
    FinderResult,
    ImpactJob,
    ProgramCatalogue,
    ProgramDetail,
    ProgramTimeline,
)
from tests.conftest import bearer

YUBARI = "012092"
LOCAL10000 = {"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": LOCAL10000_INPUTS}


def assert_declared(model: type[BaseModel], body: dict) -> None:
    """Validating drops keys the model does not declare, so dumping the parsed answer gives it back whole."""
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True) == body


async def answer(client, method: str, path: str, **kwargs) -> dict:
    response = await client.request(method, path, **kwargs)
    assert response.status_code in (200, 202), response.text
    body: dict = response.json()
    return body


async def test_the_catalogue_and_every_program_with_its_timeline(client):
    catalogue = await answer(client, "GET", "/subsidy/programs?limit=100")
    assert_declared(ProgramCatalogue, catalogue)
    assert len(catalogue["items"]) == 18
    for program in catalogue["items"]:
        path = f"/subsidy/programs/{program['id']}"
        assert_declared(ProgramDetail, await answer(client, "GET", path))
        year = program["fiscal_years"][-1]
        assert_declared(ProgramDetail, await answer(client, "GET", f"{path}?fiscal_year={year}"))
        assert_declared(ProgramTimeline, await answer(client, "GET", f"{path}/timeline"))


@pytest.mark.parametrize(
    "body",
    [
        LOCAL10000,
        LOCAL10000 | {"overrides": {"weakest_area_rate": "4/5"}},
        {"inputs": LOCAL10000_INPUTS | {"kaso": False, "fiscal_strength_index": "0.5", "in_three_metro_areas": False}},
        LOCAL10000 | {"inputs": LOCAL10000_INPUTS | {"loan_amount": 0}},  # ineligible, with reasons
    ],
    ids=["plain", "override", "defaults", "ineligible"],
)
async def test_a_calculation(client, body):
    result = await answer(client, "POST", "/subsidy/programs/local10000/calculate", json=body)
    assert_declared(CalculationResult, result)
    assert result["trace"] and any(step["parameters"] for step in result["trace"])


async def test_a_batch_with_a_failing_item(client):
    items = [{"program": "local10000"} | LOCAL10000, {"program": "nope"}, {"program": "local10000", "inputs": {}}]
    result = await answer(client, "POST", "/subsidy/calculate/batch", json={"items": items})
    assert_declared(BatchResult, result)
    assert [item["status"] for item in result["results"]] == [200, 422, 422]


@pytest.mark.parametrize(
    "inputs",
    [{}, LOCAL10000_INPUTS | {"plan_cost": 30_000_000, "component": "network"}, {"plan_cost": -1}],
    ids=["empty", "partial", "bad"],
)
async def test_the_finder(client, inputs):
    result = await answer(client, "POST", "/subsidy/finder", json={"municipality_code": YUBARI, "inputs": inputs})
    assert_declared(FinderResult, result)
    assert {item["status"] for item in result["items"]} >= {"needs_inputs", "ineligible"}


async def test_a_comparison(client):
    result = await answer(
        client,
        "POST",
        "/subsidy/programs/local10000/compare",
        json={
            "municipality_code": YUBARI,
            "inputs": LOCAL10000_INPUTS,
            "baseline": {"fiscal_year": 2023},
            "reform": {"fiscal_year": 2023, "overrides": {"weakest_area_rate": "4/5"}},
        },
    )
    assert_declared(Comparison, result)
    assert result["changed_steps"] and result["difference"]["amount"] > 0


async def test_an_impact_run(client, app_key, local_services):
    started = await answer(
        client,
        "POST",
        "/subsidy/impact",
        headers=bearer(app_key),
        json={"program": "okoshi_obog_network", "fiscal_year": 2023, "inputs": {"startup_cost": 1_500_000}},
    )
    assert_declared(ImpactJob, started)
    await local_services.settled()  # the run is the service's background task, after its answer
    done = await answer(client, "GET", f"/subsidy/impact/{started['id']}", headers=bearer(app_key))
    assert_declared(ImpactJob, done)
    assert done["status"] == "done" and done["created_at"].endswith("Z")
