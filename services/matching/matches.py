"""Matches and their lifecycle: proposed → accepted → agreement_signed → active → completed, or declined /
withdrawn; moved by the municipality or ops, every move recorded. Never commits: the request's session does."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.db import get_or_404
from common.error_codes import ErrorCode
from common.errors import Conflict, Unprocessable
from common.ids import new_id
from common.models import Match, MatchTransition, Need, Round
from common.models.matching import MatchStatus, PartyKind
from common.requestid import current_request_id
from common.timeutil import current_fiscal_year, utcnow
from services.matching import repository, scoring
from services.matching.parties import ensure_acts_for, partner_kind, subject_host, subject_partner
from services.matching.schemas import MatchCreate

TRANSITIONS: dict[MatchStatus, tuple[MatchStatus, ...]] = {
    MatchStatus.proposed: (MatchStatus.accepted, MatchStatus.declined, MatchStatus.withdrawn),
    MatchStatus.accepted: (MatchStatus.agreement_signed, MatchStatus.withdrawn),
    MatchStatus.agreement_signed: (MatchStatus.active, MatchStatus.withdrawn),
    MatchStatus.active: (MatchStatus.completed,),
    MatchStatus.completed: (),
    MatchStatus.declined: (),
    MatchStatus.withdrawn: (),
}
MATCH_FIELDS = (
    "id",
    "market",
    "municipality_code",
    "company_id",
    "adviser_id",
    "need_id",
    "round_id",
    "status",
    "created_at",
    "updated_at",
)


def _transition_record(
    principal: Principal, match_id: str, from_status: MatchStatus | None, to_status: MatchStatus
) -> MatchTransition:
    return MatchTransition(
        match_id=match_id,
        from_status=from_status,
        to_status=to_status,
        actor=principal.describe(),
        actor_key_id=principal.key_id,
        request_id=current_request_id(),
    )


def new_match(session: AsyncSession, principal: Principal, **fields: Any) -> Match:
    """A proposed match with the first entry of its history, added to the session (not yet flushed)."""
    match = Match(id=new_id("match"), status=MatchStatus.proposed, **fields)
    session.add(match)
    session.add(_transition_record(principal, match.id, None, MatchStatus.proposed))
    return match


def pair_of(match: Match) -> tuple[str, str]:
    """(municipality code, company or adviser id): what one live match holds in its market."""
    return match.municipality_code, match.company_id or match.adviser_id or ""


def match_exists(match: Match) -> Conflict:
    partner = f"company {match.company_id}" if match.company_id else f"adviser {match.adviser_id}"
    return Conflict(
        f"municipality {match.municipality_code} and {partner} already have the {match.status} "
        f"{match.market} match {match.id}; it must be declined, withdrawn or completed before another",
        code=ErrorCode.MATCH_EXISTS,
    )


async def live_match_by_pair(
    session: AsyncSession, market: str, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Match]:
    wanted = set(pairs)
    found = await repository.live_matches(session, market, {code for code, _ in wanted})
    return {pair_of(match): match for match in found if pair_of(match) in wanted}


async def _refuse_second_live_match(session: AsyncSession, market: str, pair: tuple[str, str]) -> None:
    if existing := (await live_match_by_pair(session, market, [pair])).get(pair):
        raise match_exists(existing)


async def _check_need(session: AsyncSession, data: MatchCreate) -> None:
    if data.need_id is None:
        return
    need = await session.get(Need, data.need_id)
    if need is None or need.municipality_code != data.municipality_code or need.market != data.market:
        raise Unprocessable(f"{data.need_id} is not a {data.market} need of {data.municipality_code}", field="need_id")


async def create_match(session: AsyncSession, principal: Principal, data: MatchCreate) -> Match:
    ensure_acts_for(principal, data.municipality_code)
    other = partner_kind(data.market)
    partner_id = data.adviser_id if other == PartyKind.adviser else data.company_id
    wrong_id = data.company_id if other == PartyKind.adviser else data.adviser_id
    field = f"{other}_id"
    if partner_id is None or wrong_id is not None:
        raise Unprocessable(f"a {data.market} match names a {field} and nothing else", field=field)
    host = await subject_host(session, data.market, data.municipality_code, "municipality_code")
    partner = await subject_partner(session, data.market, other, partner_id, field)
    await _check_need(session, data)
    if data.round_id is not None:
        await get_or_404(session, Round, data.round_id, field="round_id")
    if reasons := scoring.pair_reasons(data.market, host, partner, current_fiscal_year()):
        raise Unprocessable(
            "this pair is not eligible: " + "; ".join(r.message for r in reasons),
            code=ErrorCode.INELIGIBLE_PAIR,
            field=field,
        )
    pair = (data.municipality_code, partner_id)
    await _refuse_second_live_match(session, data.market, pair)
    savepoint = await session.begin_nested()
    try:
        match = new_match(session, principal, **data.model_dump())
        await session.flush()
    except IntegrityError:  # a concurrent request created the pair's match after the check above
        await savepoint.rollback()
        await _refuse_second_live_match(session, data.market, pair)
        raise
    await savepoint.commit()
    return match


async def get_match(session: AsyncSession, principal: Principal, match_id: str) -> Match:
    match = await get_or_404(session, Match, match_id, field="match_id")
    ensure_acts_for(principal, match.municipality_code)
    return match


async def transition(session: AsyncSession, principal: Principal, match_id: str, to: MatchStatus) -> Match:
    match = await get_match(session, principal, match_id)
    current = MatchStatus(match.status)
    allowed = TRANSITIONS[current]
    if to not in allowed:
        options = ", ".join(allowed) if allowed else f"nothing: {current} is final"
        raise Conflict(
            f"a {current} match cannot move to {to}; allowed: {options}", code=ErrorCode.ILLEGAL_TRANSITION, field="to"
        )
    if not await repository.move_match(session, match_id, current, to, utcnow()):
        raise Conflict("the match changed meanwhile; read it again", code=ErrorCode.CONCURRENT_TRANSITION, field="to")
    session.add(_transition_record(principal, match_id, current, to))
    await session.flush()
    await session.refresh(match)
    return match


def match_summary(match: Match) -> dict[str, Any]:
    return {name: getattr(match, name) for name in MATCH_FIELDS}


async def match_view(session: AsyncSession, match: Match) -> dict[str, Any]:
    history = await repository.transitions(session, match.id)
    return {
        **match_summary(match),
        "allowed_transitions": list(TRANSITIONS[MatchStatus(match.status)]),
        "history": [
            {
                "from": t.from_status,
                "to": t.to_status,
                "actor": t.actor,
                "actor_key_id": t.actor_key_id,
                "request_id": t.request_id,
                "at": t.at,
            }
            for t in history
        ],
    }
