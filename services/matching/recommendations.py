"""Recommendations: the eligible candidates for one party, ranked by score (ties by candidate id), and the
eligibility of one pair with its reasons. A municipality's candidates come from the in-memory registry index
(services/matching/registry_index.py); a company's or adviser's hosts are read per query."""

from dataclasses import dataclass, replace
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.eligibility import Reason
from common.errors import Unprocessable
from common.models.matching import Market, PartyKind
from common.pagination import decode_cursor, encode_cursor
from services.matching import repository, scoring
from services.matching.parties import (
    hosts,
    parse_party,
    partner_column,
    reasons_json,
    subject_host,
    subject_partner,
)
from services.matching.registry_index import registry
from services.matching.scoring import HostView, PartnerView


@dataclass(frozen=True)
class Pairing:
    """A host and a partner, one of which is the candidate shown to the other."""

    host: HostView
    partner: PartnerView
    candidate: HostView | PartnerView


@dataclass(frozen=True)
class Scored:
    pairing: Pairing

    @property
    def parts(self) -> dict[str, int]:
        return scoring.score_parts(self.pairing.host, self.pairing.partner)

    @property
    def rank(self) -> tuple[int, str]:
        return scoring.rank_key(scoring.score(self.pairing.host, self.pairing.partner), self.pairing.candidate.party)


def offset_of(cursor: str | None) -> int:
    """Recommendations are computed, not stored: their cursor is an offset into the ranking."""
    if cursor is None:
        return 0
    offset = decode_cursor(cursor)
    if not offset.isdigit():
        raise Unprocessable("cursor is not one this API returned", field="cursor")
    return int(offset)


def _candidate(scored: Scored) -> dict[str, Any]:
    host, partner, candidate = scored.pairing.host, scored.pairing.partner, scored.pairing.candidate
    parts = scored.parts
    return {
        "candidate": candidate.party,
        "name": candidate.name,
        "municipality_code": candidate.code if isinstance(candidate, HostView) else candidate.municipality_code,
        "score": sum(parts.values()),
        "score_parts": parts,
        "eligible": True,
        "shared_fields": sorted(host.fields & partner.fields),
    }


async def _pairings(session: AsyncSession, market: Market, subject: str, fiscal_year: int) -> list[Pairing]:
    """A company's or adviser's candidate hosts (read per query: needs change with every post)."""
    kind, ident = parse_party(subject, "for")
    partner = await subject_partner(session, market, kind, ident, "for")
    return [Pairing(host, partner, host) for host in await hosts(session, market, fiscal_year=fiscal_year)]


def _excluded(candidate: HostView | PartnerView, reasons: list[Reason]) -> dict[str, Any]:
    return {"candidate": candidate.party, "name": candidate.name, "eligible": False, "reasons": reasons_json(reasons)}


@dataclass(frozen=True)
class Ranked:
    """One page of a ranking, how many eligible candidates it has in all, and the excluded ones."""

    page: list[Scored]
    total: int
    excluded: list[dict[str, Any]]


async def _for_host(
    session: AsyncSession, market: Market, host: HostView, fiscal_year: int, window: slice, explain: bool
) -> Ranked:
    """A municipality's candidates from the in-memory registry: the eligible ones scored, the others excluded.
    Only the page's candidates get their parts built: a municipality's candidates are thousands."""
    index = await registry(session, market)
    under_way = await repository.matches_under_way(session, partner_column(market))
    host_reasons = scoring.host_reasons(market, host)
    ranked: list[tuple[int, str, PartnerView]] = []
    excluded = []
    for partner, party, own_reasons, points in zip(
        index.partners,
        index.parties,
        index.partner_reasons(fiscal_year),
        index.partner_points(host.pref_code),
        strict=True,
    ):
        if busy := under_way.get(partner.id):
            partner = replace(partner, capacity_left=partner.capacity_left - busy)
        pair_reasons = scoring.pair_only_reasons(market, host, partner)
        if own_reasons or host_reasons or pair_reasons:
            if explain:
                excluded.append(_excluded(partner, own_reasons + host_reasons + pair_reasons))
            continue
        ranked.append((-points - scoring.pair_points(host, partner), party, partner))
    ranked.sort()  # by score, then party name; party names are unique, so the views are never compared
    return Ranked([Scored(Pairing(host, partner, partner)) for _, _, partner in ranked[window]], len(ranked), excluded)


async def _for_partner(session: AsyncSession, market: Market, subject: str, fiscal_year: int, window: slice) -> Ranked:
    scored, excluded = [], []
    for pairing in await _pairings(session, market, subject, fiscal_year):
        if reasons := scoring.pair_reasons(market, pairing.host, pairing.partner, fiscal_year):
            excluded.append(_excluded(pairing.candidate, reasons))
        else:
            scored.append(Scored(pairing))
    scored.sort(key=lambda entry: entry.rank)
    return Ranked(scored[window], len(scored), excluded)


async def recommend(
    session: AsyncSession, market: Market, subject: str, *, fiscal_year: int, limit: int, offset: int, explain: bool
) -> dict[str, Any]:
    kind, ident = parse_party(subject, "for")
    extra: dict[str, Any] = {}
    window = slice(offset, offset + limit)
    if kind == PartyKind.municipality:
        host = await subject_host(session, market, ident, "for", fiscal_year)
        ranked = await _for_host(session, market, host, fiscal_year, window, explain)
        if host.adviser_years is not None:
            extra["adviser_years"] = host.adviser_years.as_json()
    else:
        ranked = await _for_partner(session, market, subject, fiscal_year, window)
    result = {
        "market": market,
        "for": subject,
        "fiscal_year": fiscal_year,
        **extra,
        "items": [_candidate(entry) for entry in ranked.page],
        "next_cursor": encode_cursor(str(offset + limit)) if offset + limit < ranked.total else None,
    }
    if explain:
        result["excluded"] = sorted(ranked.excluded, key=lambda entry: str(entry["candidate"]))
    return result


async def explain_pair(
    session: AsyncSession, market: Market, municipality_code: str, partner: str, fiscal_year: int
) -> dict[str, Any]:
    host = await subject_host(session, market, municipality_code, "municipality", fiscal_year)
    kind, ident = parse_party(partner, "partner")
    counterpart = await subject_partner(session, market, kind, ident, "partner")
    reasons = scoring.pair_reasons(market, host, counterpart, fiscal_year)
    result = {
        "market": market,
        "municipality": municipality_code,
        "partner": partner,
        "fiscal_year": fiscal_year,
        "eligible": not reasons,
        "reasons": reasons_json(reasons),
    }
    if host.adviser_years is not None:
        result["adviser_years"] = host.adviser_years.as_json()
    return result
