"""Rankings with ties, and how a round breaks them.

A submitted ranking lists the other side's participants best first; an entry may be a list of participants
ranked equally (a tie). Before solving, every tie is broken into a strict order, the same way for everyone
(single tie-breaking):

- `id_order`: tied participants in the order of their party names (`company:co_a` before `company:co_b`);
- `lottery`: each participant of the round draws one ticket, the hex SHA-256 of `"<seed>:<party>"`, and tied
  participants come in ascending order of their tickets. The seed is stored with the round, so anyone can
  draw the same tickets (in any language) and solve the round again to the same assignment.
"""

import hashlib
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from common.models.matching import TieBreakMethod

Entry = str | list[str]
Ranking = list[Entry]  # best first; a list entry is a group of participants ranked equally
SEED_LIMIT = 2**63  # the seed column is a signed 64-bit integer


def lottery_ticket(seed: int, party: str) -> str:
    return hashlib.sha256(f"{seed}:{party}".encode()).hexdigest()


@dataclass(frozen=True)
class TieBreak:
    method: TieBreakMethod
    seed: int | None = None

    @classmethod
    def drawn(cls, method: TieBreakMethod, seed: int | None) -> "TieBreak":
        """The tie-break a new round gets: a lottery without a seed draws one now (and keeps it)."""
        if method == TieBreakMethod.lottery and seed is None:
            seed = secrets.randbelow(SEED_LIMIT)
        return cls(method, seed)

    def sort_key(self) -> Callable[[str], str]:
        if self.method == TieBreakMethod.lottery and self.seed is not None:
            seed = self.seed
            return lambda party: lottery_ticket(seed, party)
        return lambda party: party

    def describe(self) -> dict[str, Any]:
        if self.method == TieBreakMethod.lottery:
            return {
                "method": self.method,
                "seed": self.seed,
                "rule": "tied participants in ascending order of sha256(f'{seed}:{party}') in hex",
            }
        return {"method": self.method, "seed": None, "rule": "tied participants in the order of their party names"}


def entries(ranking: Ranking) -> Iterator[str]:
    """Every participant the ranking names, best first (a tie's members in their submitted order)."""
    for entry in ranking:
        if isinstance(entry, str):
            yield entry
        else:
            yield from entry


def has_ties(ranking: Ranking) -> bool:
    return any(kind is not str for kind in set(map(type, ranking)))  # one pass in C: rankings are long


def shared(ranking: Ranking) -> Ranking:
    """The ranking with every name replaced by the one interned string object for it. Rankings read from JSON hold
    a fresh string per entry (millions in a large round); with one object per participant the solver's and the
    certificate's lookups stay in a few cache-resident objects, which is most of their speed."""
    try:
        return list(map(sys.intern, cast(list[str], ranking)))
    except TypeError:  # a tie (a list) among the names: one pass fewer than looking for one first
        return [sys.intern(entry) if isinstance(entry, str) else list(map(sys.intern, entry)) for entry in ranking]


def strict(ranking: Ranking, key: Callable[[str], str]) -> list[str]:
    """The ranking with every tie broken by `key`."""
    if not has_ties(ranking):
        return cast(list[str], ranking)
    order: list[str] = []
    for entry in ranking:
        order.extend([entry] if isinstance(entry, str) else sorted(entry, key=key))
    return order


def rank_of(ranking: Ranking, party: str) -> int | None:
    """The party's rank, 1 = first choice; tied participants share a rank. None if the ranking omits it."""
    try:
        return ranking.index(party) + 1
    except ValueError:
        pass
    for position, entry in enumerate(ranking):
        if not isinstance(entry, str) and party in entry:
            return position + 1
    return None


def without(ranking: Ranking, left_out: set[str]) -> Ranking:
    """The ranking without the participants in `left_out` (an emptied tie disappears)."""
    kept: Ranking = []
    for entry in ranking:
        if isinstance(entry, str):
            if entry not in left_out:
                kept.append(entry)
        elif group := [party for party in entry if party not in left_out]:
            kept.append(group)
    return kept
