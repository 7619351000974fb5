"""Solving a round from its preferences: eligibility applied, ties broken, deferred acceptance, the result with its
stability certificate. `solve` is pure (no database), so tests and benchmarks run it on any market."""

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.eligibility import Reason
from common.models.matching import Market, PartyKind
from common.timeutil import current_fiscal_year
from services.matching import scoring
from services.matching.certificate import stability_certificate
from services.matching.parties import hosts, is_municipality, parse_party, partner_kind, partners, reasons_json
from services.matching.solver import Side, deferred_acceptance
from services.matching.tiebreak import Ranking, TieBreak, entries, rank_of, strict

Pair = tuple[str, str]  # (municipality party, partner party)


@dataclass(frozen=True)
class Exclusions:
    """Whom the eligibility rules leave out of a round: participants, and (municipality, partner) pairs."""

    participants: dict[str, list[Reason]]
    pairs: dict[Pair, list[Reason]]


@dataclass(frozen=True)
class RoundPreferences:
    """A round's preferences: each participant's submitted ranking (ties allowed) and capacity."""

    market: Market
    proposing_side: PartyKind
    rankings: dict[str, Ranking]
    capacities: dict[str, int]
    tie_break: TieBreak


async def exclusions(session: AsyncSession, market: Market, rankings: dict[str, Ranking]) -> Exclusions:
    fiscal_year = current_fiscal_year()
    codes = [parse_party(p, "participant")[1] for p in rankings if is_municipality(p)]
    partner_ids = [parse_party(p, "participant")[1] for p in rankings if not is_municipality(p)]
    host_by_party = {host.party: host for host in await hosts(session, market, codes)}
    partner_by_party = {partner.party: partner for partner in await partners(session, market, partner_ids)}
    excluded = {party: scoring.host_reasons(market, host) for party, host in host_by_party.items()}
    excluded |= {
        party: scoring.partner_reasons(market, partner, fiscal_year) for party, partner in partner_by_party.items()
    }
    excluded_pairs = {}
    for municipality, partner in _ranked_pairs(market, rankings):
        if municipality not in host_by_party or partner not in partner_by_party:
            continue
        if reasons := scoring.pair_only_reasons(market, host_by_party[municipality], partner_by_party[partner]):
            excluded_pairs[(municipality, partner)] = reasons
    return Exclusions({party: reasons for party, reasons in excluded.items() if reasons}, excluded_pairs)


def _ranked_pairs(market: Market, rankings: dict[str, Ranking]) -> set[Pair]:
    if market != Market.advisor:  # only the advisor market has a rule about the pair itself
        return set()
    return {
        (party, other) if is_municipality(party) else (other, party)
        for party, ranking in rankings.items()
        for other in entries(ranking)
    }


def solver_rankings(market: RoundPreferences, excluded: Exclusions) -> dict[str, list[str]]:
    """The strict rankings the solver reads. An excluded participant ranks no one, so no one is matched with it:
    its name may stay in others' rankings (a pair counts only if each side ranks the other)."""
    key = market.tie_break.sort_key()
    ranked: dict[str, list[str]] = {
        party: [] if party in excluded.participants else strict(ranking, key)
        for party, ranking in market.rankings.items()
    }
    for municipality, partner in excluded.pairs:
        for one, other in ((municipality, partner), (partner, municipality)):
            if one in ranked:
                ranked[one] = [party for party in ranked[one] if party != other]
    return ranked


def sides(market: RoundPreferences, ranked: dict[str, list[str]]) -> tuple[Side, Side]:
    """(proposers, receivers)."""
    municipalities = Side({p: r for p, r in ranked.items() if is_municipality(p)}, market.capacities)
    counterparts = Side({p: r for p, r in ranked.items() if not is_municipality(p)}, market.capacities)
    if market.proposing_side == PartyKind.municipality:
        return municipalities, counterparts
    return counterparts, municipalities


def _ident(party: str) -> str:
    return party.partition(":")[2]


def solve(round_id: str, market: RoundPreferences, excluded: Exclusions) -> dict[str, Any]:
    """The round's result: the assignment with both ranks, the unmatched, the excluded, the tie-break and the
    stability certificate."""
    proposers, receivers = sides(market, solver_rankings(market, excluded))
    matched = deferred_acceptance(proposers, receivers)
    by_municipality = market.proposing_side == PartyKind.municipality
    pairs = matched if by_municipality else {(municipality, partner) for partner, municipality in matched}
    other = partner_kind(market.market).value
    proposing = market.proposing_side.value
    receiving = other if by_municipality else PartyKind.municipality.value
    assignment = [
        {
            "municipality": _ident(municipality),
            other: _ident(partner),
            "municipality_rank": rank_of(market.rankings[municipality], partner),
            f"{other}_rank": rank_of(market.rankings[partner], municipality),
        }
        for municipality, partner in sorted(pairs)
    ]
    in_pairs = {party for pair in pairs for party in pair}
    return {
        "round_id": round_id,
        "market": market.market,
        "proposing_side": market.proposing_side,
        "tie_break": market.tie_break.describe(),
        "assignment": assignment,
        "unmatched": sorted(set(market.rankings) - in_pairs),
        "excluded": [
            {"participant": party, "reasons": reasons_json(reasons)}
            for party, reasons in sorted(excluded.participants.items())
        ],
        "excluded_pairs": [
            {"municipality": _ident(municipality), other: _ident(partner), "reasons": reasons_json(reasons)}
            for (municipality, partner), reasons in sorted(excluded.pairs.items())
        ],
        "certificate": stability_certificate(proposers, receivers, matched, proposing=proposing, receiving=receiving),
    }
