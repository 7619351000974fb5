"""Deferred acceptance with capacities on random instances: stable, within capacities, proposer-optimal."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.solver import Side, blocking_pairs, deferred_acceptance


@st.composite
def markets(draw, max_proposers=4, max_receivers=4, max_capacity=2):
    """Two sides with random partial rankings (anyone may leave anyone out) and capacities."""
    proposers = [f"p{i}" for i in range(draw(st.integers(1, max_proposers)))]
    receivers = [f"r{i}" for i in range(draw(st.integers(1, max_receivers)))]

    def side(agents, others):
        rankings = {
            a: draw(
                st.permutations(others).flatmap(
                    lambda perm: st.integers(0, len(perm)).map(lambda k, perm=perm: list(perm[:k]))
                )
            )
            for a in agents
        }
        capacities = {a: draw(st.integers(1, max_capacity)) for a in agents}
        return Side(rankings, capacities)

    return side(proposers, receivers), side(receivers, proposers)


def acceptable_pairs(proposers: Side, receivers: Side) -> list[tuple[str, str]]:
    return [(p, r) for p, ranking in proposers.rankings.items() for r in ranking if p in receivers.rankings[r]]


def within_capacities(matching, proposers: Side, receivers: Side) -> bool:
    for side, position in ((proposers, 0), (receivers, 1)):
        for agent, capacity in side.capacities.items():
            if sum(1 for pair in matching if pair[position] == agent) > capacity:
                return False
    return True


def all_stable_matchings(proposers: Side, receivers: Side) -> list[set]:
    pairs = acceptable_pairs(proposers, receivers)
    found = []
    for size in range(len(pairs) + 1):
        for chosen in itertools.combinations(pairs, size):
            matching = set(chosen)
            if within_capacities(matching, proposers, receivers) and not blocking_pairs(proposers, receivers, matching):
                found.append(matching)
    return found


def weakly_better_for(agent: str, ranking: list[str], mine: set, theirs: set) -> bool:
    """`mine` is at least as good as `theirs` under every responsive preference: no fewer partners, and
    the k-th best of mine is at least as good as the k-th best of theirs."""
    mine_ranks = sorted(ranking.index(r) for (p, r) in mine if p == agent)
    their_ranks = sorted(ranking.index(r) for (p, r) in theirs if p == agent)
    return len(mine_ranks) >= len(their_ranks) and all(a <= b for a, b in zip(mine_ranks, their_ranks, strict=False))


@given(markets(max_proposers=6, max_receivers=6, max_capacity=3))
@settings(max_examples=300, deadline=None)
def test_result_is_stable_acceptable_and_within_capacities(market):
    proposers, receivers = market
    matching = deferred_acceptance(proposers, receivers)
    assert blocking_pairs(proposers, receivers, matching) == []
    assert within_capacities(matching, proposers, receivers)
    assert matching <= set(acceptable_pairs(proposers, receivers))


@given(markets(max_proposers=3, max_receivers=3, max_capacity=2))
@settings(max_examples=200, deadline=None)
def test_proposers_do_at_least_as_well_as_in_any_stable_matching(market):
    proposers, receivers = market
    matching = deferred_acceptance(proposers, receivers)
    stable = all_stable_matchings(proposers, receivers)
    assert matching in stable
    for other in stable:
        for proposer, ranking in proposers.rankings.items():
            assert weakly_better_for(proposer, ranking, matching, other), (proposer, matching, other)


def test_brute_force_notices_an_unstable_matching():
    # Both prefer each other but are matched elsewhere: (p0, r0) blocks.
    proposers = Side({"p0": ["r0", "r1"], "p1": ["r0", "r1"]}, {"p0": 1, "p1": 1})
    receivers = Side({"r0": ["p0", "p1"], "r1": ["p0", "p1"]}, {"r0": 1, "r1": 1})
    assert blocking_pairs(proposers, receivers, {("p0", "r1"), ("p1", "r0")}) == [("p0", "r0")]
    assert deferred_acceptance(proposers, receivers) == {("p0", "r0"), ("p1", "r1")}


def test_the_proposing_side_gets_its_better_stable_matching():
    # Two stable matchings exist; each side's proposing run gives it its first choices.
    a = Side({"a0": ["b0", "b1"], "a1": ["b1", "b0"]}, {"a0": 1, "a1": 1})
    b = Side({"b0": ["a1", "a0"], "b1": ["a0", "a1"]}, {"b0": 1, "b1": 1})
    assert deferred_acceptance(a, b) == {("a0", "b0"), ("a1", "b1")}
    assert deferred_acceptance(b, a) == {("b0", "a1"), ("b1", "a0")}


def test_capacity_lets_a_receiver_hold_several():
    proposers = Side({"p0": ["r0"], "p1": ["r0"], "p2": ["r0"]}, {"p0": 1, "p1": 1, "p2": 1})
    receivers = Side({"r0": ["p2", "p0", "p1"]}, {"r0": 2})
    assert deferred_acceptance(proposers, receivers) == {("p2", "r0"), ("p0", "r0")}
