"""A solved round's proof of stability, checked from the rankings and the assignment alone (not by the solver).

A pair blocks when each side ranks the other, they are not matched, and each would rather have the other than its
worst partner (or still has room). Only mutually acceptable pairs can block; each is checked, and the
certificate says how many there were, which (if any) block, and how much of each side's capacity is used.
The rankings are the strict ones the solver used (ties broken as the round states), after eligibility; a matching
without a blocking pair there has none under the submitted rankings either, where a tie is no preference.
"""

from collections import defaultdict
from collections.abc import Collection
from itertools import filterfalse
from typing import Any

from services.matching.solver import Side

Pair = tuple[str, str]  # (proposer, receiver)


def _partners(matching: Collection[Pair]) -> dict[str, list[str]]:
    partners: dict[str, list[str]] = defaultdict(list)
    for proposer, receiver in matching:
        partners[proposer].append(receiver)
        partners[receiver].append(proposer)
    return partners


def _thresholds(side: Side, partners: dict[str, list[str]]) -> dict[str, int]:
    """For each agent, the position in its ranking before which it would take someone new: anywhere while it
    has room, else ahead of its worst partner."""
    thresholds = {}
    for agent, ranking in side.rankings.items():
        mine = partners.get(agent, [])
        full = len(mine) >= side.capacities[agent]  # capacities are at least 1, so a full agent has partners
        thresholds[agent] = max(map(side.positions[agent].__getitem__, mine)) if full else len(ranking)
    return thresholds


def _capacity_use(side: Side, partners: dict[str, list[str]]) -> dict[str, Any]:
    used = {agent: len(partners.get(agent, [])) for agent in side.rankings}
    return {
        "participants": len(side.rankings),
        "capacity": sum(side.capacities[a] for a in side.rankings),
        "used": sum(used.values()),
        "full": sum(used[a] >= side.capacities[a] for a in side.rankings),
        "over_capacity": sorted(a for a in side.rankings if used[a] > side.capacities[a]),
    }


def blocking_and_checked(proposers: Side, receivers: Side, matching: Collection[Pair]) -> tuple[list[Pair], int]:
    """The blocking pairs (sorted) and how many mutually acceptable pairs there are."""
    partners = _partners(matching)
    proposer_limit, receiver_limit = _thresholds(proposers, partners), _thresholds(receivers, partners)
    position = receivers.positions  # each receiver's {proposer: position}, as the solver read them
    nobody: dict[str, int] = {}
    # Receivers that rank every proposer need no lookup per pair: the pairs with them are counted per proposer.
    # (a set's difference with a ranking's list walks the list in order and looks up a set that stays in cache,
    # where asking the position dicts would touch memory scattered over the whole of a large round)
    every_proposer = frozenset(proposers.rankings)
    ranks_all = frozenset(
        receiver for receiver, ranking in receivers.rankings.items() if not every_proposer.difference(ranking)
    )
    matched, checked, blocking = set(matching), 0, []
    for proposer, ranking in proposers.rankings.items():
        others = list(filterfalse(ranks_all.__contains__, ranking))
        checked += len(ranking) - len(others) + sum(proposer in position.get(other, nobody) for other in others)
        for receiver in ranking[: proposer_limit[proposer]]:  # beyond its limit the proposer wants no one new
            place = position.get(receiver, nobody).get(proposer)
            if place is not None and place < receiver_limit[receiver] and (proposer, receiver) not in matched:
                blocking.append((proposer, receiver))
    return sorted(blocking), checked


def stability_certificate(
    proposers: Side, receivers: Side, matching: Collection[Pair], *, proposing: str, receiving: str
) -> dict[str, Any]:
    partners = _partners(matching)
    blocking, checked = blocking_and_checked(proposers, receivers, matching)
    return {
        "mutually_acceptable_pairs_checked": checked,
        "blocking_pairs": [{proposing: proposer, receiving: receiver} for proposer, receiver in blocking],
        "stable": not blocking,
        "capacities": {proposing: _capacity_use(proposers, partners), receiving: _capacity_use(receivers, partners)},
        "optimality": f"deferred acceptance with the {proposing} side proposing: every {proposing} has the best "
        f"partners it can have in any stable matching of these rankings, every {receiving} the "
        "worst (Roth 1984, responsive preferences with capacities)",
    }
