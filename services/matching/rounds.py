"""Rounds (seminars): both sides send a capacity and a ranking, ops solves with deferred acceptance, eligibility
applied, and the assignment turns into proposed matches. Never commits: the request's session does."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.error_codes import ErrorCode
from common.errors import Conflict, Forbidden, NotFound, Unprocessable
from common.ids import new_id
from common.models import ApiKeyRole, Match, Round
from common.models.matching import Market, PartyKind, TieBreakMethod
from common.pagination import PageParams
from common.timeutil import utcnow
from services.matching import repository, solving
from services.matching.matches import live_match_by_pair, new_match, pair_of
from services.matching.parties import ensure_acts_for, known_ids, parse_party, partner_kind
from services.matching.schemas import PreferencesIn, RoundCreate, RoundStatus
from services.matching.solving import RoundPreferences
from services.matching.tiebreak import Ranking, TieBreak, entries

MAX_RANKED = 5000


async def create_round(session: AsyncSession, data: RoundCreate) -> Round:
    if data.proposing_side not in (PartyKind.municipality, partner_kind(data.market)):
        raise Unprocessable(
            f"in the {data.market} market the proposing side is municipality or {partner_kind(data.market)}",
            field="proposing_side",
        )
    if data.tie_break.method == TieBreakMethod.id_order and data.tie_break.seed is not None:
        raise Unprocessable("only a lottery has a seed", field="tie_break.seed")
    tie_break = TieBreak.drawn(data.tie_break.method, data.tie_break.seed)
    round_ = Round(
        id=new_id("rnd"),
        name=data.name,
        market=data.market,
        proposing_side=data.proposing_side,
        tie_break_method=tie_break.method,
        tie_break_seed=tie_break.seed,
    )
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


async def list_rounds(
    session: AsyncSession, page: PageParams, *, market: Market | None, status: RoundStatus | None
) -> list[Round]:
    solved = None if status is None else status == RoundStatus.solved
    return await repository.list_rounds(session, page, market=market, solved=solved)


def tie_break_of(round_: Round) -> TieBreak:
    return TieBreak(TieBreakMethod(round_.tie_break_method), round_.tie_break_seed)


def round_summary(round_: Round) -> dict[str, Any]:
    return {
        "id": round_.id,
        "name": round_.name,
        "market": round_.market,
        "proposing_side": round_.proposing_side,
        "status": RoundStatus.open if round_.solved_at is None else RoundStatus.solved,
        "tie_break": tie_break_of(round_).describe(),
        "created_at": round_.created_at,
        "solved_at": round_.solved_at,
    }


def round_view(round_: Round) -> dict[str, Any]:
    return {**round_summary(round_), "result": round_.result}


# --- preferences -----------------------------------------------------------------------------------


async def _check_participant(session: AsyncSession, principal: Principal, round_: Round, participant: str) -> PartyKind:
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


async def _check_ranking(session: AsyncSession, ranked_kind: PartyKind, ranker: PartyKind, ranking: Ranking) -> None:
    if any(not isinstance(entry, str) and not entry for entry in ranking):
        raise Unprocessable("a tie lists at least one participant", field="ranking")
    named = list(entries(ranking))
    if len(named) > MAX_RANKED:
        raise Unprocessable(f"a ranking names at most {MAX_RANKED} participants", field="ranking")
    ranked = [parse_party(entry, "ranking") for entry in named]
    if any(kind != ranked_kind for kind, _ in ranked):
        raise Unprocessable(f"a {ranker} ranks {ranked_kind}s only", field="ranking")
    if len(set(named)) != len(named):
        raise Unprocessable("the ranking names someone twice", field="ranking")
    idents = [ident for _, ident in ranked]
    unknown = sorted(set(idents) - await known_ids(session, ranked_kind, idents))
    if unknown:
        raise Unprocessable(f"unknown {ranked_kind}(s) in the ranking: {', '.join(unknown[:5])}", field="ranking")


async def submit_preferences(
    session: AsyncSession, principal: Principal, round_id: str, data: PreferencesIn
) -> dict[str, Any]:
    """The participant's capacity and ranking, replacing what it sent before; refused once the round is solved
    (the round is locked meanwhile, so a solve never reads a half-changed set)."""
    round_ = await _locked_round(session, round_id)
    if round_.solved_at is not None:
        raise Conflict("the round is solved; preferences can no longer change", code=ErrorCode.ROUND_SOLVED)
    kind = await _check_participant(session, principal, round_, data.participant)
    ranked_kind = partner_kind(round_.market) if kind == PartyKind.municipality else PartyKind.municipality
    await _check_ranking(session, ranked_kind, kind, data.ranking)
    await repository.upsert_preference(session, round_id, data.participant, data.capacity, data.ranking)
    return {"round_id": round_id, "participant": data.participant, "capacity": data.capacity, "ranking": data.ranking}


# --- solving ---------------------------------------------------------------------------------------


async def solve_round(session: AsyncSession, round_id: str) -> dict[str, Any]:
    round_ = await _locked_round(session, round_id)
    if round_.solved_at is not None:
        raise Conflict("the round is already solved; GET it for the result", code=ErrorCode.ROUND_SOLVED)
    market = Market(round_.market)
    rows = await repository.preferences(session, round_id)
    preferences = RoundPreferences(
        market,
        PartyKind(round_.proposing_side),
        {row.participant: row.ranking for row in rows},
        {row.participant: row.capacity for row in rows},
        tie_break_of(round_),
    )
    result = solving.solve(round_id, preferences, await solving.exclusions(session, market, preferences.rankings))
    now = utcnow()
    if not await repository.mark_solved(session, round_id, result, now):
        raise Conflict("the round was solved by another request meanwhile", code=ErrorCode.ROUND_SOLVED)
    return {**result, "solved_at": now.isoformat()}


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
        created = [
            new_match(
                session,
                principal,
                market=round_.market,
                municipality_code=code,
                round_id=round_id,
                **{f"{other}_id": partner},
            )
            for code, partner in assigned
            if (code, partner) not in made and (code, partner) not in live
        ]
        await session.flush()
    except IntegrityError:  # a pair got a match from another request meanwhile
        await savepoint.rollback()
        raise Conflict(
            "a match for one of the pairs was created meanwhile; call again", code=ErrorCode.MATCH_EXISTS
        ) from None
    await savepoint.commit()
    return RoundMatches(created, [match for pair, match in sorted(live.items()) if pair not in made])
