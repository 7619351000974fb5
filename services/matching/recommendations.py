"""Recommendations: the eligible candidates for one party, ranked by score (ties by candidate id), and the
eligibility of one pair with its reasons. Both come from the in-memory index of the registry and of the market's
hosts (services/matching/registry_index.py), whose stamps each query reads."""

import heapq
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from common.eligibility import Reason
from common.errors import Unprocessable
from common.models.matching import Market, PartyKind
from common.pagination import decode_cursor, encode_cursor
from services.matching import scoring
from services.matching.parties import parse_party, partner_kind, reasons_json, subject_host, subject_partner
from services.matching.registry_index import Registry, registry
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


def _excluded(candidate: HostView | PartnerView, reasons: list[Reason]) -> dict[str, Any]:
    return {"candidate": candidate.party, "name": candidate.name, "eligible": False, "reasons": reasons_json(reasons)}


@dataclass(frozen=True)
class Ranked:
    """One page of a ranking, how many eligible candidates it has in all, and the excluded ones."""

    page: list[Scored]
    total: int
    excluded: list[dict[str, Any]]


Candidate = TypeVar("Candidate", HostView, PartnerView)


def _page(
    ranked: list[tuple[tuple[int, str], Candidate]],
    pairing: Callable[[Candidate], Pairing],
    window: slice,
    excluded: list[dict[str, Any]],
) -> Ranked:
    """Only the candidates up to the page's end are put in order (by `scoring.rank_key`; party names are unique,
    so the candidates are never compared), and only the page's are paired: a municipality's candidates are
    thousands."""
    page = heapq.nsmallest(window.stop, ranked)[window]
    return Ranked([Scored(pairing(candidate)) for _, candidate in page], len(ranked), excluded)


def rank_for_host(
    market: Market, host: HostView, found: Registry, fiscal_year: int, window: slice, explain: bool
) -> Ranked:
    """A municipality's candidates from the in-memory registry: the eligible ones scored, the others excluded.
    Only the page's candidates get their parts built."""
    index, under_way = found.index, found.under_way
    host_reasons = scoring.host_reasons(market, host)
    ranked: list[tuple[tuple[int, str], PartnerView]] = []
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
        score = points + scoring.pair_points(host, partner)
        ranked.append((scoring.rank_key(score, party), partner))
    return _page(ranked, lambda partner: Pairing(host, partner, partner), window, excluded)


def rank_for_partner(
    market: Market, partner: PartnerView, found: Registry, fiscal_year: int, window: slice, explain: bool
) -> Ranked:
    """A company's or adviser's candidate hosts, from the in-memory hosts of the market."""
    own_reasons = scoring.partner_reasons(market, partner, fiscal_year)
    ranked: list[tuple[tuple[int, str], HostView]] = []
    excluded = []
    for host in found.hosts.by_code.values():
        pair_reasons = scoring.pair_only_reasons(market, host, partner)
        if own_reasons or found.hosts.reasons[host.code] or pair_reasons:
            if explain:
                excluded.append(_excluded(host, own_reasons + found.hosts.reasons[host.code] + pair_reasons))
            continue
        ranked.append((scoring.rank_key(scoring.score(host, partner), host.party), host))
    return _page(ranked, lambda host: Pairing(host, partner, host), window, excluded)


async def _subject_partner(
    session: AsyncSession, market: Market, found: Registry, kind: PartyKind, ident: str
) -> PartnerView:
    indexed = found.partner(ident) if kind == partner_kind(market) else None
    return indexed or await subject_partner(session, market, kind, ident, "for")


async def recommend(
    session: AsyncSession, market: Market, subject: str, *, fiscal_year: int, limit: int, offset: int, explain: bool
) -> dict[str, Any]:
    kind, ident = parse_party(subject, "for")
    found = await registry(session, market, fiscal_year)
    extra: dict[str, Any] = {}
    window = slice(offset, offset + limit)
    if kind == PartyKind.municipality:
        # a municipality without open needs in the market is a subject too, read on its own
        host = found.hosts.by_code.get(ident) or await subject_host(session, market, ident, "for", fiscal_year)
        ranked = rank_for_host(market, host, found, fiscal_year, window, explain)
        if host.adviser_years is not None:
            extra["adviser_years"] = host.adviser_years.as_json()
    else:
        partner = await _subject_partner(session, market, found, kind, ident)
        ranked = rank_for_partner(market, partner, found, fiscal_year, window, explain)
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
