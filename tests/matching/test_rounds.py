"""Rounds through the API: preferences with tenancy, a stable result with ranks, eligibility applied."""

import hashlib
import random

import pytest

from services.matching.solver import Side, blocking_pairs
from tests.harness import bearer
from tests.matching.builders import (
    CHIYODA,
    HIMI,
    OSAKA,
    SAPPORO,
    YUBARI,
    add_adviser,
    add_company,
    adviser_party,
    company_party,
    ident,
    municipality,
    new_round,
    prefer,
    solve,
)


@pytest.fixture
async def two_companies(client, ops):
    a = await add_company(client, ops, "A", CHIYODA)
    b = await add_company(client, ops, "B", OSAKA)
    return company_party(a), company_party(b)


async def crossed_preferences(client, ops, round_id, a, b):
    """Two stable matchings: each side's first choices, or the other side's."""
    await prefer(client, ops, round_id, municipality(YUBARI), [a, b])
    await prefer(client, ops, round_id, municipality(HIMI), [b, a])
    await prefer(client, ops, round_id, a, [municipality(HIMI), municipality(YUBARI)])
    await prefer(client, ops, round_id, b, [municipality(YUBARI), municipality(HIMI)])


@pytest.mark.parametrize(
    "side,expected",
    [
        ("municipality", {(YUBARI, "A", 1, 2), (HIMI, "B", 1, 2)}),
        ("company", {(YUBARI, "B", 2, 1), (HIMI, "A", 2, 1)}),
    ],
)
async def test_the_proposing_side_is_stated_and_gets_its_best_stable_matching(
    client, ops, two_companies, side, expected
):
    a, b = two_companies
    names = {ident(a): "A", ident(b): "B"}
    round_id = await new_round(client, ops, proposing_side=side)
    await crossed_preferences(client, ops, round_id, a, b)
    result = await solve(client, ops, round_id)
    assert result["proposing_side"] == side
    assert {
        (x["municipality"], names[x["company"]], x["municipality_rank"], x["company_rank"])
        for x in result["assignment"]
    } == expected
    assert result["unmatched"] == []
    stored = (await client.get(f"/matching/rounds/{round_id}", headers=ops)).json()
    assert stored["result"]["assignment"] == result["assignment"] and stored["solved_at"]


async def test_ineligible_participants_are_left_out_and_say_why(client, ops, two_companies):
    a, _ = two_companies
    sapporo = company_party(await add_company(client, ops, "S", SAPPORO))
    round_id = await new_round(client, ops)
    await prefer(client, ops, round_id, municipality(CHIYODA), [a, sapporo])
    await prefer(client, ops, round_id, municipality(YUBARI), [sapporo, a])
    await prefer(client, ops, round_id, a, [municipality(CHIYODA), municipality(YUBARI)])
    await prefer(client, ops, round_id, sapporo, [municipality(YUBARI), municipality(CHIYODA)])
    result = await solve(client, ops, round_id)
    assert [(x["municipality"], x["company"]) for x in result["assignment"]] == [(YUBARI, ident(a))]
    assert result["assignment"][0]["municipality_rank"] == 2  # its rank in what it sent, not after filtering
    assert {e["participant"]: e["reasons"][0]["code"] for e in result["excluded"]} == {
        municipality(CHIYODA): "host_in_three_metro_area",
        sapporo: "company_outside_three_metro_area",
    }
    assert result["unmatched"] == sorted([municipality(CHIYODA), sapporo])


async def test_an_adviser_round_never_pairs_an_adviser_with_their_home(client, ops):
    local = adviser_party(await add_adviser(client, ops, "Local", home=YUBARI))
    round_id = await new_round(client, ops, market="advisor", proposing_side="adviser")
    await prefer(client, ops, round_id, municipality(YUBARI), [local])
    await prefer(client, ops, round_id, municipality(HIMI), [local])
    await prefer(client, ops, round_id, local, [municipality(YUBARI), municipality(HIMI)])
    result = await solve(client, ops, round_id)
    assert [(x["municipality"], x["adviser_rank"]) for x in result["assignment"]] == [(HIMI, 2)]
    assert [(e["municipality"], e["reasons"][0]["code"]) for e in result["excluded_pairs"]] == [
        (YUBARI, "adviser_lives_in_host")
    ]


async def test_random_rounds_are_stable_and_never_pair_the_ineligible(client, ops):
    """Random rankings over hosts and companies, some ineligible; the result is checked independently."""
    homes = {"A": CHIYODA, "B": OSAKA, "C": "231002", "S": SAPPORO}
    companies = {name: company_party(await add_company(client, ops, name, home)) for name, home in homes.items()}
    hosts = [municipality(code) for code in (YUBARI, HIMI, CHIYODA, "422011")]
    ineligible = {companies["S"], municipality(CHIYODA)}
    rng = random.Random(5)
    for _ in range(6):
        round_id = await new_round(client, ops, proposing_side=rng.choice(["municipality", "company"]))
        rankings, capacities = {}, {}
        for party, others in [(h, list(companies.values())) for h in hosts] + [(c, hosts) for c in companies.values()]:
            rankings[party] = rng.sample(others, rng.randint(0, len(others)))
            capacities[party] = rng.randint(1, 2)
            await prefer(client, ops, round_id, party, rankings[party], capacities[party])
        result = await solve(client, ops, round_id)
        pairs = {(f"municipality:{x['municipality']}", f"company:{x['company']}") for x in result["assignment"]}
        assert not any(m in ineligible or c in ineligible for m, c in pairs)
        allowed = {p: [o for o in r if p not in ineligible and o not in ineligible] for p, r in rankings.items()}
        municipalities = Side({p: r for p, r in allowed.items() if p in hosts}, capacities)
        firms = Side({p: r for p, r in allowed.items() if p not in hosts}, capacities)
        assert blocking_pairs(municipalities, firms, pairs) == []
        for party, capacity in capacities.items():
            assert sum(party in pair for pair in pairs) <= capacity


async def test_who_may_send_which_preferences(client, ops, yubari, app_key, two_companies):
    a, _ = two_companies
    round_id = await new_round(client, ops)
    await prefer(client, yubari, round_id, municipality(YUBARI), [a])
    await prefer(client, yubari, round_id, municipality(HIMI), [a], status=403)
    await prefer(client, yubari, round_id, a, [municipality(YUBARI)], status=403)
    await prefer(client, bearer(app_key), round_id, municipality(YUBARI), [a], status=403)
    assert (await client.post(f"/matching/rounds/{round_id}/solve", headers=yubari)).status_code == 403
    assert (
        await client.post(
            "/matching/rounds", headers=yubari, json={"name": "x", "market": "kigyojin", "proposing_side": "company"}
        )
    ).status_code == 403


async def test_sending_again_replaces_and_a_solved_round_is_closed(client, ops, two_companies):
    a, b = two_companies
    round_id = await new_round(client, ops)
    await prefer(client, ops, round_id, municipality(YUBARI), [a])
    await prefer(client, ops, round_id, municipality(YUBARI), [b])
    await prefer(client, ops, round_id, b, [municipality(YUBARI)])
    await prefer(client, ops, round_id, a, [municipality(YUBARI)])
    assert [x["company"] for x in (await solve(client, ops, round_id))["assignment"]] == [ident(b)]
    again = await client.post(f"/matching/rounds/{round_id}/solve", headers=ops)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "round_solved")
    late = await prefer(client, ops, round_id, municipality(HIMI), [a], status=409)
    assert late.json()["error"]["code"] == "round_solved"


@pytest.mark.parametrize(
    "participant,ranking,field",
    [
        ("adviser:adv_x", [], "participant"),  # no advisers in the kigyojin market
        ("company:co_missing", [], "participant"),
        ("municipality:012093", [], "participant"),  # bad check digit
        ("municipality:012092", ["municipality:162051"], "ranking"),  # a municipality ranks companies
        ("municipality:012092", ["company:co_missing"], "ranking"),
        ("municipality:012092", ["A", "A"], "ranking"),
        ("nobody", [], "participant"),
    ],
)
async def test_bad_preferences_are_4xx_naming_the_field(client, ops, two_companies, participant, ranking, field):
    a, _ = two_companies
    ranking = [a if entry == "A" else entry for entry in ranking]
    round_id = await new_round(client, ops)
    response = await client.post(
        f"/matching/rounds/{round_id}/preferences",
        headers=ops,
        json={"participant": participant, "capacity": 1, "ranking": ranking},
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["field"] == field


async def test_the_proposing_side_must_belong_to_the_market(client, ops):
    response = await client.post(
        "/matching/rounds", headers=ops, json={"name": "x", "market": "kigyojin", "proposing_side": "adviser"}
    )
    assert (response.status_code, response.json()["error"]["field"]) == (422, "proposing_side")
    assert (await client.post("/matching/rounds/rnd_missing/solve", headers=ops)).status_code == 404


async def test_a_solved_round_turns_into_proposed_matches_once(client, ops, yubari, two_companies):
    a, b = two_companies
    round_id = await new_round(client, ops)
    assert (await client.post(f"/matching/rounds/{round_id}/matches", headers=ops)).status_code == 409
    await crossed_preferences(client, ops, round_id, a, b)
    assignment = (await solve(client, ops, round_id))["assignment"]

    first = await client.post(f"/matching/rounds/{round_id}/matches", headers=ops)
    assert first.status_code == 201, first.text
    made = first.json()["items"]
    assert sorted((m["municipality_code"], m["company_id"], m["status"], m["round_id"]) for m in made) == sorted(
        (x["municipality"], x["company"], "proposed", round_id) for x in assignment
    )
    again = await client.post(f"/matching/rounds/{round_id}/matches", headers=ops)
    assert again.json()["items"] == []

    mine = next(m for m in made if m["municipality_code"] == YUBARI)
    accepted = await client.post(f"/matching/matches/{mine['id']}/transitions", json={"to": "accepted"}, headers=yubari)
    assert accepted.status_code == 200
    assert (await client.post(f"/matching/rounds/{round_id}/matches", headers=yubari)).status_code == 403


# --- tie-breaks, certificates, explanations, rounds as a resource ------------------------------------


async def test_a_lottery_round_stores_its_seed_and_solves_ties_by_tickets(client, ops, two_companies):
    a, _ = two_companies
    created_round = (
        await client.post(
            "/matching/rounds",
            headers=ops,
            json={
                "name": "抽選",
                "market": "kigyojin",
                "proposing_side": "municipality",
                "tie_break": {"method": "lottery", "seed": 7},
            },
        )
    ).json()
    round_id = created_round["id"]
    assert created_round["tie_break"]["method"] == "lottery" and created_round["tie_break"]["seed"] == 7
    await prefer(client, ops, round_id, municipality(YUBARI), [a])
    await prefer(client, ops, round_id, municipality(HIMI), [a])
    await prefer(client, ops, round_id, a, [[municipality(YUBARI), municipality(HIMI)]])
    result = await solve(client, ops, round_id)
    tickets = {code: hashlib.sha256(f"7:{municipality(code)}".encode()).hexdigest() for code in (YUBARI, HIMI)}
    winner = min(tickets, key=tickets.__getitem__)
    assert [(x["municipality"], x["company_rank"]) for x in result["assignment"]] == [(winner, 1)]
    assert result["tie_break"]["seed"] == 7 and result["certificate"]["stable"] is True
    assert result["certificate"]["mutually_acceptable_pairs_checked"] == 2

    loser = HIMI if winner == YUBARI else YUBARI
    view = (await client.get(f"/matching/rounds/{round_id}/participants/{municipality(loser)}", headers=ops)).json()
    assert (view["free_capacity"], view["partners"], view["lottery_ticket"]) == (1, [], tickets[loser])
    [reason] = view["explanation"]
    assert (reason["candidate"], reason["code"], reason["tied"]) == (
        a,
        "candidate_full_ahead_by_tie_break",
        [municipality(winner)],
    )


async def test_a_lottery_without_a_seed_draws_one_and_id_order_takes_none(client, ops):
    drawn = (
        await client.post(
            "/matching/rounds",
            headers=ops,
            json={"name": "x", "market": "kigyojin", "proposing_side": "company", "tie_break": {"method": "lottery"}},
        )
    ).json()
    assert isinstance(drawn["tie_break"]["seed"], int)
    refused = await client.post(
        "/matching/rounds",
        headers=ops,
        json={
            "name": "x",
            "market": "kigyojin",
            "proposing_side": "company",
            "tie_break": {"method": "id_order", "seed": 1},
        },
    )
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "tie_break.seed")


async def test_an_unmatched_participant_is_told_why_for_each_candidate(client, ops, yubari, himi, two_companies):
    a, b = two_companies
    sapporo = company_party(await add_company(client, ops, "S", SAPPORO))
    silent = company_party(await add_company(client, ops, "Silent", CHIYODA))
    round_id = await new_round(client, ops)
    await prefer(client, ops, round_id, municipality(YUBARI), [a])
    await prefer(client, ops, round_id, municipality(HIMI), [a, b, sapporo, silent])
    await prefer(client, ops, round_id, a, [municipality(YUBARI), municipality(HIMI)])
    await prefer(client, ops, round_id, b, [municipality(YUBARI)])
    await prefer(client, ops, round_id, sapporo, [municipality(HIMI)])
    await solve(client, ops, round_id)
    path = f"/matching/rounds/{round_id}/participants/{municipality(HIMI)}"
    view = (await client.get(path, headers=himi)).json()
    assert [(e["candidate"], e["rank"], e["code"]) for e in view["explanation"]] == [
        (a, 1, "candidate_full_with_preferred"),
        (b, 2, "not_ranked_by_candidate"),
        (sapporo, 3, "candidate_excluded"),
        (silent, 4, "candidate_sent_no_preferences"),
    ]
    assert municipality(YUBARI) in view["explanation"][0]["message"]
    assert "三大都市圏" in view["explanation"][2]["message"]
    matched = (
        await client.get(f"/matching/rounds/{round_id}/participants/{municipality(YUBARI)}", headers=yubari)
    ).json()
    assert (matched["partners"], matched["free_capacity"], matched["explanation"]) == (
        [{"partner": a, "rank": 1}],
        0,
        None,
    )
    assert (await client.get(path, headers=yubari)).status_code == 403
    assert (await client.get(f"/matching/rounds/{round_id}/participants/{a}", headers=himi)).status_code == 403
    missing = await client.get(f"/matching/rounds/{round_id}/participants/{municipality(OSAKA)}", headers=ops)
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "participant")


async def test_an_open_round_has_no_explanations_yet(client, ops, two_companies):
    round_id = await new_round(client, ops)
    await prefer(client, ops, round_id, municipality(YUBARI), [two_companies[0]])
    response = await client.get(f"/matching/rounds/{round_id}/participants/{municipality(YUBARI)}", headers=ops)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "round_not_solved")


async def test_rounds_are_listed_by_market_and_status(client, ops, app_key, two_companies):
    a, _ = two_companies
    solved = await new_round(client, ops)
    await prefer(client, ops, solved, municipality(YUBARI), [a])
    await solve(client, ops, solved)
    still_open = await new_round(client, ops)
    advisers = await new_round(client, ops, market="advisor", proposing_side="adviser")

    async def listed(**params):
        response = await client.get("/matching/rounds", headers=bearer(app_key), params=params)
        assert response.status_code == 200, response.text
        return [(r["id"], r["status"]) for r in response.json()["items"]]

    mine = {solved, still_open, advisers}
    assert {r for r, _ in await listed(limit=500)} >= mine
    assert [r for r in await listed(market="kigyojin", status="open", limit=500) if r[0] in mine] == [
        (still_open, "open")
    ]
    assert [r for r in await listed(status="solved", limit=500) if r[0] in mine] == [(solved, "solved")]
    bad = await client.get("/matching/rounds", headers=bearer(app_key), params={"status": "closed"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "status")


async def test_a_tie_counts_once_and_its_members_share_a_rank(client, ops, two_companies):
    a, b = two_companies
    round_id = await new_round(client, ops)
    await prefer(client, ops, round_id, municipality(YUBARI), [[a, b]], capacity=2)
    await prefer(client, ops, round_id, a, [municipality(YUBARI)])
    await prefer(client, ops, round_id, b, [municipality(YUBARI)])
    result = await solve(client, ops, round_id)
    assert sorted(x["municipality_rank"] for x in result["assignment"]) == [1, 1]
    still_open = await new_round(client, ops)
    for ranking in ([[a, a]], [[]], [a, [a]], [[a, [b]]]):
        response = await client.post(
            f"/matching/rounds/{still_open}/preferences",
            headers=ops,
            json={"participant": municipality(HIMI), "capacity": 1, "ranking": ranking},
        )
        assert response.status_code == 422, ranking
        assert response.json()["error"]["field"].startswith("ranking"), ranking
