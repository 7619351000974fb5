"""Deferred acceptance (Gale–Shapley) with capacities on both sides: a many-to-many stable matching.

Each proposer, while it has free capacity, proposes down its ranking; each receiver holds the best
proposals up to its capacity and rejects the rest. A pair counts only if each side ranks the other.
With responsive preferences the result is pairwise stable and the best stable matching for every
proposer (Roth 1984); the tests check both against brute force on small instances.
"""

import heapq
from collections import deque
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Side:
    """One side of the market: each participant's ranking (best first) and capacity."""

    rankings: dict[str, list[str]]
    capacities: dict[str, int]

    @cached_property
    def positions(self) -> dict[str, dict[str, int]]:
        """Each participant's ranking as {ranked: position from 0}, built once: the solver reads the receivers'
        and the stability certificate reads them again."""
        return {agent: dict(zip(ranking, range(len(ranking)), strict=True)) for agent, ranking in self.rankings.items()}


def deferred_acceptance(proposers: Side, receivers: Side) -> set[tuple[str, str]]:
    """The proposer-optimal stable matching, as (proposer, receiver) pairs."""
    receiver_rank = receivers.positions
    held: dict[str, list[tuple[int, str]]] = {r: [] for r in receivers.rankings}  # max-heap by rank: worst first
    held_count = dict.fromkeys(proposers.rankings, 0)
    next_choice = dict.fromkeys(proposers.rankings, 0)
    receiver_capacity = receivers.capacities
    no_ranks: dict[str, int] = {}
    waiting = deque(sorted(proposers.rankings))

    while waiting:
        proposer = waiting.popleft()
        ranking, capacity = proposers.rankings[proposer], proposers.capacities[proposer]
        count, choice = held_count[proposer], next_choice[proposer]
        while count < capacity and choice < len(ranking):
            receiver = ranking[choice]
            choice += 1
            rank = receiver_rank.get(receiver, no_ranks).get(proposer)
            if rank is None:
                continue  # the receiver does not accept this proposer at all
            holding = held[receiver]
            if len(holding) < receiver_capacity[receiver]:
                heapq.heappush(holding, (-rank, proposer))
                count += 1
            elif rank < -holding[0][0]:
                _, rejected = heapq.heapreplace(holding, (-rank, proposer))
                count += 1
                held_count[rejected] -= 1
                waiting.append(rejected)
        held_count[proposer], next_choice[proposer] = count, choice
    return {(proposer, receiver) for receiver, holding in held.items() for _, proposer in holding}


def blocking_pairs(proposers: Side, receivers: Side, matching: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs that both rank each other, are not matched, and would each rather have the other
    than their worst current partner (or have room). Empty means the matching is stable."""
    partners: dict[str, set[str]] = {}
    for proposer, receiver in matching:
        partners.setdefault(proposer, set()).add(receiver)
        partners.setdefault(receiver, set()).add(proposer)

    def wants(agent: str, other: str, side: Side) -> bool:
        ranking = side.rankings[agent]
        current = partners.get(agent, set())
        if len(current) < side.capacities[agent]:
            return True
        return ranking.index(other) < max(ranking.index(partner) for partner in current)

    blocking = []
    for proposer, ranking in proposers.rankings.items():
        for receiver in ranking:
            if receiver not in receivers.rankings or proposer not in receivers.rankings[receiver]:
                continue
            if (proposer, receiver) in matching:
                continue
            if wants(proposer, receiver, proposers) and wants(receiver, proposer, receivers):
                blocking.append((proposer, receiver))
    return blocking
