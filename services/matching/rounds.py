"""Rounds (seminars): both sides send a capacity and a ranking, ops solves with deferred acceptance, eligibility
applied, and the assignment turns into proposed matches. Never commits: the request's session does."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.eligibility import Reason
from common.error_codes import ErrorCode
from common.errors import Conflict, Forbidden, NotFound, Unprocessable
from common.ids import new_id
from common.models import ApiKeyRole, Match, Round
from common.models.matching import Market, PartyKind
from common.timeutil import current_fiscal_year, utcnow
from services.matching import repository, scoring
from services.matching.matches import live_match_by_pair, new_match, pair_of
from services.matching.parties import (
    ensure_acts_for,
    hosts,
    is_municipality,
    known_ids,
    parse_party,
    partner_kind,
    partners,
    reasons_json,
)
from services.matching.schemas import PreferencesIn, RoundCreate
from services.matching.solver import Side, deferred_acceptance

Pair = tuple[str, str]  # (municipality party, partner party)


@dataclass(frozen=True)
class Exclusions:
    """Whom the eligibility rules leave out of a round: participants, and (municipality, partner) pairs."""

    participants: dict[str, list[Reason]]
    pairs: dict[Pair, list[Reason]]


async def create_round(session: AsyncSession, data: RoundCreate) -> Round:
    if data.proposing_side not in (PartyKind.municipality, partner_kind(data.market)):
        raise Unprocessable(f"in the {data.market} market the proposing side is municipality or "
                            f"{partner_kind(data.market)}", field="proposing_side")
    round_ = Round(id=new_id("rnd"), name=data.name, market=data.market, proposing_side=data.proposing_side)
    session.add(round_)
    await session.flush()
    return round_


async def get_round(session: AsyncSession, round_id: str) -> Round:
    return await get_or_404(session, Round, round_id, field="round_id")


async def _locked_round(session: AsyncSession, round_id: str) -> Round:
    round_ = await repository.round_for_update(session, round_id)
    if round_ is None:
        raise NotFound(f"no round {round_id}", field="round_id")
    return round_


def round_view(round_: Round) -> dict[str, Any]:
    return {"id": round_.id, "name": round_.name, "market": round_.market, "proposing_side": round_.proposing_side,
            "created_at": round_.created_at, "solved_at": round_.solved_at, "result": round_.result}


# --- preferences -----------------------------------------------------------------------------------

async def _check_participant(session: AsyncSession, principal: Principal, round_: Round,
                             participant: str) -> PartyKind:
    kind, ident = parse_party(participant, "participant")
    other = partner_kind(round_.market)
    if kind not in (PartyKind.municipality, other):
        raise Unprocessable(f"the {round_.market} market has municipalities and {other}s", field="participant")
    if kind == PartyKind.municipality:
        ensure_acts_for(principal, ident)
    elif principal.role != ApiKeyRole.ops:
        raise Forbidden(f"{other} preferences are entered by ops", code=ErrorCode.NOT_A_PARTY)
    if not await known_ids(session, kind, [ident]):
        raise NotFound(f"no {kind} {ident}", field="participant")
    return kind


async def _check_ranking(session: AsyncSession, ranked_kind: PartyKind, ranker: PartyKind,
                         ranking: list[str]) -> None:
    ranked = [parse_party(entry, "ranking") for entry in ranking]
    if any(kind != ranked_kind for kind, _ in ranked):
        raise Unprocessable(f"a {ranker} ranks {ranked_kind}s only", field="ranking")
    if len(set(ranking)) != len(ranking):
        raise Unprocessable("the ranking names someone twice", field="ranking")
    idents = [ident for _, ident in ranked]
    unknown = sorted(set(idents) - await known_ids(session, ranked_kind, idents))
    if unknown:
        raise Unprocessable(f"unknown {ranked_kind}(s) in the ranking: {', '.join(unknown[:5])}", field="ranking")


async def submit_preferences(session: AsyncSession, principal: Principal, round_id: str,
                             data: PreferencesIn) -> dict[str, Any]:
    round_ = await get_round(session, round_id)
    if round_.solved_at is not None:
        raise Conflict("the round is solved; preferences can no longer change", code=ErrorCode.ROUND_SOLVED)
    kind = await _check_participant(session, principal, round_, data.participant)
    ranked_kind = partner_kind(round_.market) if kind == PartyKind.municipality else PartyKind.municipality
    await _check_ranking(session, ranked_kind, kind, data.ranking)
    await repository.upsert_preference(session, round_id, data.participant, data.capacity, data.ranking)
    return {"round_id": round_id, "participant": data.participant, "capacity": data.capacity,
            "ranking": data.ranking}


# --- solving ---------------------------------------------------------------------------------------

async def _exclusions(session: AsyncSession, market: Market, participants: list[str],
                      ranked_pairs: set[Pair]) -> Exclusions:
    fiscal_year = current_fiscal_year()
    codes = [parse_party(p, "participant")[1] for p in participants if is_municipality(p)]
    partner_ids = [parse_party(p, "participant")[1] for p in participants if not is_municipality(p)]
    host_by_party = {host.party: host for host in await hosts(session, market, codes)}
    partner_by_party = {partner.party: partner for partner in await partners(session, market, partner_ids)}
    excluded = {party: scoring.host_reasons(market, host) for party, host in host_by_party.items()}
    excluded |= {party: scoring.partner_reasons(market, partner, fiscal_year)
                 for party, partner in partner_by_party.items()}
    excluded_pairs = {}
    for municipality, partner in ranked_pairs:
        if municipality not in host_by_party or partner not in partner_by_party:
            continue
        if reasons := scoring.pair_only_reasons(market, host_by_party[municipality], partner_by_party[partner]):
            excluded_pairs[(municipality, partner)] = reasons
    return Exclusions({party: reasons for party, reasons in excluded.items() if reasons}, excluded_pairs)


def _ranked_pairs(market: Market, rankings: dict[str, list[str]]) -> set[Pair]:
    if market != Market.advisor:  # only the advisor market has a rule about the pair itself
        return set()
    return {(party, other) if is_municipality(party) else (other, party)
            for party, ranking in rankings.items() for other in ranking}


def _eligible_rankings(rankings: dict[str, list[str]], exclusions: Exclusions) -> dict[str, list[str]]:
    excluded = exclusions.participants
    filtered = {party: [] if party in excluded else [other for other in ranking if other not in excluded]
                for party, ranking in rankings.items()}
    for municipality, partner in exclusions.pairs:
        filtered[municipality] = [other for other in filtered[municipality] if other != partner]
        filtered[partner] = [other for other in filtered[partner] if other != municipality]
    return filtered


def _stable_pairs(round_: Round, rankings: dict[str, list[str]], capacities: dict[str, int]) -> set[Pair]:
    municipalities = Side({p: r for p, r in rankings.items() if is_municipality(p)}, capacities)
    counterparts = Side({p: r for p, r in rankings.items() if not is_municipality(p)}, capacities)
    if round_.proposing_side == PartyKind.municipality:
        return deferred_acceptance(municipalities, counterparts)
    return {(municipality, partner) for partner, municipality in deferred_acceptance(counterparts, municipalities)}


async def solve_round(session: AsyncSession, round_id: str) -> dict[str, Any]:
    round_ = await get_round(session, round_id)
    if round_.solved_at is not None:
        raise Conflict("the round is already solved; GET it for the result", code=ErrorCode.ROUND_SOLVED)
    market = Market(round_.market)
    rows = await repository.preferences(session, round_id)
    rankings = {row.participant: row.ranking for row in rows}
    capacities = {row.participant: row.capacity for row in rows}
    exclusions = await _exclusions(session, market, list(rankings), _ranked_pairs(market, rankings))
    pairs = _stable_pairs(round_, _eligible_rankings(rankings, exclusions), capacities)

    result = _round_result(round_, rankings, pairs, exclusions)
    now = utcnow()
    if not await repository.mark_solved(session, round_id, result, now):
        raise Conflict("the round was solved by another request meanwhile", code=ErrorCode.ROUND_SOLVED)
    return {**result, "solved_at": now.isoformat()}


def _ident(party: str) -> str:
    return party.partition(":")[2]


def _round_result(round_: Round, rankings: dict[str, list[str]], pairs: set[Pair],
                  exclusions: Exclusions) -> dict[str, Any]:
    other = partner_kind(round_.market).value
    assignment = [
        {"municipality": _ident(municipality), other: _ident(partner),
         "municipality_rank": rankings[municipality].index(partner) + 1,
         f"{other}_rank": rankings[partner].index(municipality) + 1}
        for municipality, partner in sorted(pairs)
    ]
    matched = {party for pair in pairs for party in pair}
    return {
        "round_id": round_.id, "market": round_.market, "proposing_side": round_.proposing_side,
        "assignment": assignment,
        "unmatched": sorted(set(rankings) - matched),
        "excluded": [{"participant": party, "reasons": reasons_json(reasons)}
                     for party, reasons in sorted(exclusions.participants.items())],
        "excluded_pairs": [{"municipality": _ident(municipality), other: _ident(partner),
                            "reasons": reasons_json(reasons)}
                           for (municipality, partner), reasons in sorted(exclusions.pairs.items())],
    }


# --- from the assignment to matches ----------------------------------------------------------------

@dataclass(frozen=True)
class RoundMatches:
    created: list[Match]
    kept: list[Match]  # live matches of an assigned pair made outside the round: the pair keeps those


async def propose_round_matches(session: AsyncSession, principal: Principal, round_id: str) -> RoundMatches:
    """A proposed match for every pair the solved round assigned; calling again adds none twice, and a pair that
    already has a live match keeps it."""
    round_ = await _locked_round(session, round_id)
    if round_.result is None:
        raise Conflict("solve the round first", code=ErrorCode.ROUND_NOT_SOLVED)
    other = partner_kind(round_.market).value
    assigned = [(pair["municipality"], pair[other]) for pair in round_.result["assignment"]]
    made = {pair_of(match) for match in await repository.matches_of_round(session, round_id)}
    live = await live_match_by_pair(session, round_.market, assigned)
    savepoint = await session.begin_nested()
    try:
        created = [new_match(session, principal, market=round_.market, municipality_code=code, round_id=round_id,
                             **{f"{other}_id": partner})
                   for code, partner in assigned if (code, partner) not in made and (code, partner) not in live]
        await session.flush()
    except IntegrityError:  # a pair got a match from another request meanwhile
        await savepoint.rollback()
        raise Conflict("a match for one of the pairs was created meanwhile; call again",
                       code=ErrorCode.MATCH_EXISTS) from None
    await savepoint.commit()
    return RoundMatches(created, [match for pair, match in sorted(live.items()) if pair not in made])
