"""Recommendations: the eligible candidates for one party, ranked by score (ties by candidate id), and the
eligibility of one pair with its reasons."""

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.errors import Unprocessable
from common.models.matching import Market, PartyKind
from common.pagination import decode_cursor, encode_cursor
from services.matching import scoring
from services.matching.parties import hosts, parse_party, partners, reasons_json, subject_host, subject_partner
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
    parts: dict[str, int]

    @property
    def rank(self) -> tuple[int, str]:
        return scoring.rank_key(sum(self.parts.values()), self.pairing.candidate.party)


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
    return {"candidate": candidate.party, "name": candidate.name,
            "municipality_code": candidate.code if isinstance(candidate, HostView) else candidate.municipality_code,
            "score": sum(scored.parts.values()), "score_parts": scored.parts, "eligible": True,
            "shared_fields": sorted(host.fields & partner.fields)}


async def _pairings(session: AsyncSession, market: Market, subject: str) -> list[Pairing]:
    kind, ident = parse_party(subject, "for")
    if kind == PartyKind.municipality:
        host = await subject_host(session, market, ident, "for")
        return [Pairing(host, partner, partner) for partner in await partners(session, market)]
    partner = await subject_partner(session, market, kind, ident, "for")
    return [Pairing(host, partner, host) for host in await hosts(session, market)]


async def recommend(session: AsyncSession, market: Market, subject: str, *, fiscal_year: int, limit: int,
                    offset: int, explain: bool) -> dict[str, Any]:
    scored: list[Scored] = []
    excluded: list[dict[str, Any]] = []
    for pairing in await _pairings(session, market, subject):
        candidate = pairing.candidate
        if reasons := scoring.pair_reasons(market, pairing.host, pairing.partner, fiscal_year):
            excluded.append({"candidate": candidate.party, "name": candidate.name, "eligible": False,
                             "reasons": reasons_json(reasons)})
        else:
            scored.append(Scored(pairing, scoring.score_parts(pairing.host, pairing.partner)))
    scored.sort(key=lambda entry: entry.rank)
    page = [_candidate(entry) for entry in scored[offset:offset + limit]]
    result = {"market": market, "for": subject, "fiscal_year": fiscal_year, "items": page,
              "next_cursor": encode_cursor(str(offset + limit)) if offset + limit < len(scored) else None}
    if explain:
        result["excluded"] = sorted(excluded, key=lambda entry: str(entry["candidate"]))
    return result


async def explain_pair(session: AsyncSession, market: Market, municipality_code: str, partner: str,
                       fiscal_year: int) -> dict[str, Any]:
    host = await subject_host(session, market, municipality_code, "municipality")
    kind, ident = parse_party(partner, "partner")
    counterpart = await subject_partner(session, market, kind, ident, "partner")
    reasons = scoring.pair_reasons(market, host, counterpart, fiscal_year)
    return {"market": market, "municipality": municipality_code, "partner": partner, "fiscal_year": fiscal_year,
            "eligible": not reasons, "reasons": reasons_json(reasons)}
