"""Rounds people can check: a seeded lottery gives the same assignment every time, the stability certificate agrees
with a brute-force check written from the definition, and every reason given to an unmatched participant is true.
The checks here restate the rules (tickets, stability, reasons) without the solver's or the certificate's code."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from common.eligibility import Reason
from common.models.matching import Market, PartyKind, TieBreakMethod
from services.matching.certificate import blocking_and_checked
from services.matching.explanations import explain, solved_round
from services.matching.solver import Side
from services.matching.solving import Exclusions, RoundPreferences, solve
from services.matching.tiebreak import TieBreak


@st.composite
def weak_ranking(draw, others):
    """Some of `others`, best first, cut into groups of equally ranked ones (a group of one is written plain)."""
    chosen = draw(st.permutations(others).flatmap(lambda p: st.integers(0, len(p)).map(lambda k, p=p: list(p[:k]))))
    ranking, start = [], 0
    while start < len(chosen):
        size = draw(st.integers(1, len(chosen) - start))
        group = chosen[start : start + size]
        ranking.append(group[0] if size == 1 else group)
        start += size
    return ranking


@st.composite
def rounds(draw, max_side=4, max_capacity=2):
    hosts = [f"municipality:m{i}" for i in range(draw(st.integers(1, max_side)))]
    firms = [f"company:c{i}" for i in range(draw(st.integers(1, max_side)))]
    rankings = {agent: draw(weak_ranking(firms if agent in hosts else hosts)) for agent in hosts + firms}
    capacities = {agent: draw(st.integers(1, max_capacity)) for agent in rankings}
    method = draw(st.sampled_from(list(TieBreakMethod)))
    seed = draw(st.integers(0, 2**63 - 1)) if method == TieBreakMethod.lottery else None
    side = draw(st.sampled_from([PartyKind.municipality, PartyKind.company]))
    left_out = draw(st.sets(st.sampled_from(hosts + firms), max_size=2))
    excluded = {party: [Reason("test_reason", f"{party} is left out")] for party in left_out}
    market = RoundPreferences(Market.kigyojin, side, rankings, capacities, TieBreak(method, seed))
    return market, Exclusions(excluded, {})


def members(ranking):
    return [party for entry in ranking for party in ([entry] if isinstance(entry, str) else entry)]


def weak_rank(ranking, party):
    for position, entry in enumerate(ranking):
        if party == entry or (not isinstance(entry, str) and party in entry):
            return position
    return None


def ticket(market, party):
    if market.tie_break.method == TieBreakMethod.lottery:
        return hashlib.sha256(f"{market.tie_break.seed}:{party}".encode()).hexdigest()
    return party


def strict_position(market, ranking, party):
    """Ties broken as the docs state, written out again: (group, ticket)."""
    return weak_rank(ranking, party), ticket(market, party)


def pairs_of(result):
    return {(f"municipality:{x['municipality']}", f"company:{x['company']}") for x in result["assignment"]}


def partners_in(pairs, agent):
    return [other for pair in pairs if agent in pair for other in pair if other != agent]


def acceptable(market, excluded, host, firm):
    return (
        host not in excluded.participants
        and firm not in excluded.participants
        and firm in members(market.rankings[host])
        and host in members(market.rankings[firm])
    )


def brute_force(market, excluded, pairs, position):
    """(mutually acceptable pairs, blocking ones) from the definition: a pair blocks if each would rather have
    the other than its worst partner, or has room."""

    def wants(agent, other):
        mine = partners_in(pairs, agent)
        ranking = market.rankings[agent]
        return len(mine) < market.capacities[agent] or any(
            position(market, ranking, other) < position(market, ranking, partner) for partner in mine
        )

    hosts = [a for a in market.rankings if a.startswith("municipality:")]
    firms = [a for a in market.rankings if a.startswith("company:")]
    mutual = [(h, f) for h in hosts for f in firms if acceptable(market, excluded, h, f)]
    return mutual, [(h, f) for h, f in mutual if (h, f) not in pairs and wants(h, f) and wants(f, h)]


@given(rounds())
@settings(max_examples=300, deadline=None)
def test_a_seeded_round_solves_to_the_same_assignment_whatever_the_order_it_is_read_in(drawn):
    market, excluded = drawn
    first = solve("rnd_x", market, excluded)
    shuffled = RoundPreferences(
        market.market,
        market.proposing_side,
        dict(reversed(market.rankings.items())),
        market.capacities,
        TieBreak(market.tie_break.method, market.tie_break.seed),
    )
    assert solve("rnd_x", shuffled, excluded) == first
    assert first["tie_break"]["seed"] == market.tie_break.seed


@given(rounds())
@settings(max_examples=300, deadline=None)
def test_the_certificate_agrees_with_a_brute_force_check(drawn):
    market, excluded = drawn
    result = solve("rnd_x", market, excluded)
    pairs = pairs_of(result)
    certificate = result["certificate"]
    mutual, blocking = brute_force(market, excluded, pairs, strict_position)
    assert certificate["stable"] is True and certificate["blocking_pairs"] == [] and blocking == []
    assert certificate["mutually_acceptable_pairs_checked"] == len(mutual)
    assert pairs <= set(mutual)
    _, weakly_blocking = brute_force(market, excluded, pairs, lambda _m, ranking, p: weak_rank(ranking, p))
    assert weakly_blocking == []  # nobody strictly prefers each other under the submitted rankings either
    for side in ("municipality", "company"):
        agents = [a for a in market.rankings if a.startswith(f"{side}:")]
        used = certificate["capacities"][side]
        assert used["used"] == len(pairs) and used["over_capacity"] == []
        assert used["capacity"] == sum(market.capacities[a] for a in agents)
        assert all(len(partners_in(pairs, a)) <= market.capacities[a] for a in agents)


@given(rounds())
@settings(max_examples=300, deadline=None)
def test_every_reason_given_to_an_unmatched_participant_is_true(drawn):
    market, excluded = drawn
    result = solve("rnd_x", market, excluded)
    pairs = pairs_of(result)
    view = solved_round(
        result,
        market.rankings,
        market.capacities,
        "company",
        market.tie_break.sort_key(),
        market.tie_break.method.value,
    )
    for participant, ranking in market.rankings.items():
        if len(partners_in(pairs, participant)) >= market.capacities[participant]:
            continue
        explained = explain(view, participant)
        assert [entry["candidate"] for entry in explained] == members(ranking)
        for entry in explained:
            assert_true(market, excluded, pairs, participant, entry)


def assert_true(market, excluded, pairs, participant, entry):
    candidate, code = entry["candidate"], entry["code"]
    theirs = partners_in(pairs, candidate)
    if code == "participant_excluded":
        assert participant in excluded.participants
    elif code == "partner":
        assert candidate in partners_in(pairs, participant)
    elif code == "candidate_excluded":
        assert candidate in excluded.participants
    elif code == "not_ranked_by_candidate":
        assert participant not in members(market.rankings[candidate])
    elif code in ("candidate_full_with_preferred", "candidate_full_ahead_by_tie_break"):
        ranking = market.rankings[candidate]
        assert len(theirs) == market.capacities[candidate] and sorted(theirs) == entry["partners"]
        assert all(weak_rank(ranking, p) <= weak_rank(ranking, participant) for p in theirs)
        tied = [p for p in theirs if weak_rank(ranking, p) == weak_rank(ranking, participant)]
        assert (code == "candidate_full_ahead_by_tie_break") == bool(tied)
        assert all(ticket(market, p) < ticket(market, participant) for p in tied)
    else:
        raise AssertionError(f"{code} is not a reason a stable result can give: {entry}")


def test_a_lottery_breaks_a_tie_the_way_its_tickets_say():
    hosts = ["municipality:m0", "municipality:m1"]
    rankings = {"municipality:m0": ["company:c0"], "municipality:m1": ["company:c0"], "company:c0": [hosts]}
    winners = set()
    for seed in range(20):
        market = RoundPreferences(
            Market.kigyojin,
            PartyKind.municipality,
            rankings,
            dict.fromkeys([*hosts, "company:c0"], 1),
            TieBreak(TieBreakMethod.lottery, seed),
        )
        winner = min(hosts, key=lambda h, seed=seed: hashlib.sha256(f"{seed}:{h}".encode()).hexdigest())
        assert pairs_of(solve("rnd_x", market, Exclusions({}, {}))) == {(winner, "company:c0")}
        winners.add(winner)
    assert winners == set(hosts)  # the lottery, not the ids, decides
    by_id = RoundPreferences(
        Market.kigyojin,
        PartyKind.municipality,
        rankings,
        dict.fromkeys([*hosts, "company:c0"], 1),
        TieBreak(TieBreakMethod.id_order),
    )
    assert pairs_of(solve("rnd_x", by_id, Exclusions({}, {}))) == {("municipality:m0", "company:c0")}


def test_the_certificate_names_the_pair_that_blocks_an_unstable_matching():
    proposers = Side({"p0": ["r0", "r1"], "p1": ["r0", "r1"]}, {"p0": 1, "p1": 1})
    receivers = Side({"r0": ["p0", "p1"], "r1": ["p0", "p1"]}, {"r0": 1, "r1": 1})
    assert blocking_and_checked(proposers, receivers, {("p0", "r1"), ("p1", "r0")}) == ([("p0", "r0")], 4)
    assert blocking_and_checked(proposers, receivers, {("p0", "r0"), ("p1", "r1")}) == ([], 4)
