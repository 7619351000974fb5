"""Each matching answer is what its response model (and so the OpenAPI document) says: it validates, and the model
declares every key of it, nested ones too, so that a generated client sees every field the service sends. Times
keep the form the views have always had (datetime.isoformat)."""

from datetime import datetime

from pydantic import BaseModel

from services.matching.responses import (
    AdviserYearsOut,
    Eligibility,
    MatchPage,
    MatchView,
    ParticipantView,
    PreferencesOut,
    Recommendations,
    RoundMatches,
    RoundPage,
    RoundView,
    SolvedRound,
)
from tests.harness import bearer
from tests.matching.builders import (
    CHIYODA,
    HIMI,
    SAPPORO,
    YUBARI,
    add_adviser,
    add_company,
    add_need,
    adviser_party,
    company_party,
    created,
    move,
    municipality,
    new_round,
)


def assert_declared(model: type[BaseModel], body: dict) -> None:
    """Validating drops keys the model does not declare, so dumping the parsed answer gives it back whole."""
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True, by_alias=True) == body


def assert_isoformat(moment: str) -> None:
    """A view's time as datetime.isoformat writes it, in UTC on both databases (SQLite forgets the zone)."""
    assert datetime.fromisoformat(moment).isoformat() == moment and moment.endswith("+00:00")


async def answer(client, method: str, path: str, headers: dict, **kwargs) -> dict:
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status_code in (200, 201), response.text
    body: dict = response.json()
    return body


async def send(client, ops, round_id: str, participant: str, ranking: list, capacity: int = 1) -> dict:
    return await answer(
        client,
        "POST",
        f"/matching/rounds/{round_id}/preferences",
        ops,
        json={"participant": participant, "capacity": capacity, "ranking": ranking},
    )


async def test_recommendations_and_eligibility_in_the_kigyojin_market(client, ops):
    tokyo = await add_company(client, ops, "Tokyo", CHIYODA, markets=["kigyojin"], dispatch_months=12)
    await add_company(client, ops, "Sapporo", SAPPORO, markets=["kigyojin"], dispatch_months=12)
    await add_need(client, ops, code=YUBARI, market="kigyojin")
    for subject, explain in (
        (municipality(YUBARI), "true"),
        (municipality(YUBARI), "false"),
        (company_party(tokyo), "true"),
    ):
        body = await answer(
            client,
            "GET",
            "/matching/recommendations",
            ops,
            params={"market": "kigyojin", "for": subject, "explain": explain},
        )
        assert_declared(Recommendations, body)
        assert body["items"] and ("excluded" in body) == (explain == "true")
    listed = await answer(client, "GET", "/matching/companies", ops)
    assert all(company["created_at"].endswith("Z") for company in listed["items"])  # read back, zone and all
    ineligible = await answer(
        client,
        "GET",
        "/matching/eligibility",
        ops,
        params={"market": "kigyojin", "municipality": CHIYODA, "partner": company_party(tokyo)},
    )
    assert_declared(Eligibility, ineligible)
    assert ineligible["eligible"] is False and ineligible["reasons"] and "adviser_years" not in ineligible


async def test_a_lottery_round_from_preferences_to_matches(client, ops):
    a = company_party(await add_company(client, ops, "A", CHIYODA))
    b = company_party(await add_company(client, ops, "B", CHIYODA))
    fresh = await answer(
        client,
        "POST",
        "/matching/rounds",
        ops,
        json={
            "name": "抽選",
            "market": "kigyojin",
            "proposing_side": "municipality",
            "tie_break": {"method": "lottery", "seed": 7},
        },
    )
    assert_declared(RoundView, fresh)
    assert fresh["result"] is None and fresh["solved_at"] is None
    assert_isoformat(fresh["created_at"])
    round_id = fresh["id"]
    assert_declared(PreferencesOut, await send(client, ops, round_id, municipality(YUBARI), [[a, b]]))
    await send(client, ops, round_id, municipality(HIMI), [a, b])
    await send(client, ops, round_id, municipality(SAPPORO), [a])
    await send(client, ops, round_id, a, [[municipality(YUBARI), municipality(HIMI), municipality(SAPPORO)]])
    await send(client, ops, round_id, b, [municipality(HIMI), municipality(YUBARI)])
    solved = await answer(client, "POST", f"/matching/rounds/{round_id}/solve", ops)
    assert_declared(SolvedRound, solved)
    assert "company_rank" in solved["assignment"][0] and "adviser_rank" not in solved["assignment"][0]
    assert_isoformat(solved["solved_at"])
    stored = await answer(client, "GET", f"/matching/rounds/{round_id}", ops)
    assert_declared(RoundView, stored)
    assert stored["solved_at"] == solved["solved_at"]
    assert_isoformat(stored["created_at"])
    listed = await answer(client, "GET", "/matching/rounds", ops, params={"status": "solved"})
    assert_declared(RoundPage, listed)
    assert round_id in {item["id"] for item in listed["items"]}
    explained = []
    for participant in (municipality(YUBARI), municipality(HIMI), municipality(SAPPORO), a, b):
        view = await answer(client, "GET", f"/matching/rounds/{round_id}/participants/{participant}", ops)
        assert_declared(ParticipantView, view)
        assert "lottery_ticket" in view
        explained += view["explanation"] or []
    assert any("partners" in reason for reason in explained), explained
    made = await answer(client, "POST", f"/matching/rounds/{round_id}/matches", ops)
    assert_declared(RoundMatches, made)
    assert len(made["items"]) == 2 and made["kept"] == []


async def test_a_match_with_its_history(client, ops):
    tokyo = await add_company(client, ops, "Tokyo", CHIYODA)
    match = created(
        await client.post(
            "/matching/matches",
            headers=ops,
            json={"market": "kigyojin", "municipality_code": YUBARI, "company_id": tokyo["id"]},
        )
    )
    assert_declared(MatchView, match)
    assert match["history"][0]["from"] is None and match["history"][0]["to"] == "proposed"
    moved = await move(client, ops, match, "accepted")
    assert moved.status_code == 200
    assert_declared(MatchView, moved.json())
    assert [entry["to"] for entry in moved.json()["history"]] == ["proposed", "accepted"]
    assert_isoformat(moved.json()["history"][1]["at"])
    assert_declared(MatchView, await answer(client, "GET", f"/matching/matches/{match['id']}", ops))
    listed = await answer(client, "GET", "/matching/matches", ops, params={"municipality": YUBARI})
    assert_declared(MatchPage, listed)
    assert [item["id"] for item in listed["items"]] == [match["id"]]


async def test_the_advisor_market_shows_the_years_and_the_excluded_pairs(client, ops, app_key):
    local = await add_adviser(client, ops, "Local", home=YUBARI)
    away = await add_adviser(client, ops, "Away", home=SAPPORO)
    await add_need(client, ops, code=HIMI, market="advisor", fields=["tourism"])
    years = await answer(client, "GET", f"/matching/municipalities/{YUBARI}/adviser-years", bearer(app_key))
    assert_declared(AdviserYearsOut, years)
    body = await answer(
        client,
        "GET",
        "/matching/recommendations",
        ops,
        params={"market": "advisor", "for": municipality(HIMI), "explain": "true"},
    )
    assert_declared(Recommendations, body)
    assert body["adviser_years"]["year_of_use"] == 1
    pair = await answer(
        client,
        "GET",
        "/matching/eligibility",
        ops,
        params={"market": "advisor", "municipality": YUBARI, "partner": adviser_party(local)},
    )
    assert_declared(Eligibility, pair)
    assert pair["eligible"] is False and pair["adviser_years"] == years
    round_id = await new_round(client, ops, market="advisor", proposing_side="adviser")
    await send(client, ops, round_id, municipality(YUBARI), [adviser_party(local), adviser_party(away)])
    await send(client, ops, round_id, adviser_party(local), [municipality(YUBARI)])
    await send(client, ops, round_id, adviser_party(away), [municipality(YUBARI)])
    solved = await answer(client, "POST", f"/matching/rounds/{round_id}/solve", ops)
    assert_declared(SolvedRound, solved)
    assert [(pair["municipality"], pair["adviser"]) for pair in solved["excluded_pairs"]] == [(YUBARI, local["id"])]
    assert set(solved["certificate"]["capacities"]) == {"adviser", "municipality"}
    assert_declared(RoundView, await answer(client, "GET", f"/matching/rounds/{round_id}", ops))
