"""Why a participant of a solved round is not matched with the candidates it ranked, built from the result.

For a participant left with free capacity, each candidate it ranked gets one reason, checked in this order:
the participant itself was left out (ineligible); the candidate is its partner; the candidate was left out; the
pair is ineligible; the candidate sent no preferences; the candidate did not rank it; the candidate filled its
capacity with partners it ranks higher (or equally, placed ahead by the round's tie-break). In a stable result
nothing else can happen; `unexplained` would mean a blocking pair, which the certificate rules out.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.error_codes import ErrorCode
from common.errors import Conflict, Forbidden, NotFound
from common.models import ApiKeyRole, Round
from common.models.matching import PartyKind, TieBreakMethod
from services.matching import repository
from services.matching.parties import ensure_acts_for, parse_party, partner_kind
from services.matching.tiebreak import Ranking, TieBreak, entries, lottery_ticket, rank_of, strict

Reasons = list[dict[str, str]]


@dataclass(frozen=True)
class SolvedRound:
    """What a solved round says, as the explanations read it (party names throughout)."""

    rankings: dict[str, Ranking]  # those loaded: the participant's and its candidates'
    capacities: dict[str, int]
    partners: dict[str, list[str]]
    excluded: dict[str, Reasons]
    excluded_pairs: dict[frozenset[str], Reasons]
    tie_break_key: Callable[[str], str]
    tie_break_method: str


def solved_round(
    result: dict[str, Any],
    rankings: dict[str, Ranking],
    capacities: dict[str, int],
    other: str,
    key: Callable[[str], str],
    method: str,
) -> SolvedRound:
    """The view of a stored result (`other`: company or adviser, the municipality's counterpart)."""
    partners: dict[str, list[str]] = defaultdict(list)
    for pair in result["assignment"]:
        municipality, partner = f"municipality:{pair['municipality']}", f"{other}:{pair[other]}"
        partners[municipality].append(partner)
        partners[partner].append(municipality)
    excluded = {entry["participant"]: entry["reasons"] for entry in result["excluded"]}
    excluded_pairs = {
        frozenset((f"municipality:{entry['municipality']}", f"{other}:{entry[other]}")): entry["reasons"]
        for entry in result["excluded_pairs"]
    }
    return SolvedRound(rankings, capacities, dict(partners), excluded, excluded_pairs, key, method)


def _said(reasons: Reasons) -> str:
    return "; ".join(reason["message"] for reason in reasons)


def _filled(round_: SolvedRound, participant: str, candidate: str) -> dict[str, Any] | None:
    """The candidate is full with partners it puts ahead of the participant, or None."""
    held = round_.partners.get(candidate, [])
    capacity = round_.capacities[candidate]
    if len(held) < capacity:
        return None
    ranking = round_.rankings[candidate]
    order = strict(ranking, round_.tie_break_key)
    if any(order.index(partner) > order.index(participant) for partner in held):
        return None
    mine = rank_of(ranking, participant)
    tied = sorted(partner for partner in held if rank_of(ranking, partner) == mine)
    if not tied:
        return {
            "code": "candidate_full_with_preferred",
            "partners": sorted(held),
            "message": f"{candidate} filled its capacity of {capacity} with partners it ranks higher than you: "
            f"{', '.join(sorted(held))}",
        }
    return {
        "code": "candidate_full_ahead_by_tie_break",
        "partners": sorted(held),
        "tied": tied,
        "message": f"{candidate} filled its capacity of {capacity} with partners it ranks higher than you or "
        f"equally; the tie with {', '.join(tied)} went their way by the round's "
        f"{round_.tie_break_method}",
    }


def why_not(round_: SolvedRound, participant: str, candidate: str) -> dict[str, Any]:
    """One reason, with a code, that `candidate` is not (or is) `participant`'s partner."""
    if participant in round_.excluded:
        return {
            "code": "participant_excluded",
            "message": f"you were left out of the round: {_said(round_.excluded[participant])}",
        }
    if candidate in round_.partners.get(participant, []):
        return {"code": "partner", "message": f"{candidate} is your partner"}
    if candidate in round_.excluded:
        return {
            "code": "candidate_excluded",
            "message": f"{candidate} was left out of the round: {_said(round_.excluded[candidate])}",
        }
    if pair_reasons := round_.excluded_pairs.get(frozenset((participant, candidate))):
        return {"code": "pair_ineligible", "message": f"you and {candidate} may not be paired: {_said(pair_reasons)}"}
    if candidate not in round_.rankings:
        return {"code": "candidate_sent_no_preferences", "message": f"{candidate} sent no ranking in this round"}
    if rank_of(round_.rankings[candidate], participant) is None:
        return {"code": "not_ranked_by_candidate", "message": f"{candidate} did not rank you"}
    return _filled(round_, participant, candidate) or {
        "code": "unexplained",
        "message": f"you and {candidate} would both rather be paired: a blocking pair",
    }


def explain(round_: SolvedRound, participant: str) -> list[dict[str, Any]]:
    """For each candidate the participant ranked (best first), its rank and why it is not a partner."""
    ranking = round_.rankings.get(participant, [])
    return [
        {"candidate": candidate, "rank": rank_of(ranking, candidate), **why_not(round_, participant, candidate)}
        for candidate in entries(ranking)
    ]


async def participant_view(
    session: AsyncSession, principal: Principal, round_: Round, participant: str
) -> dict[str, Any]:
    """A participant's part of a solved round: what it sent, its partners and, with capacity left, why not the
    others. A municipality sees its own (ops any)."""
    kind, ident = parse_party(participant, "participant")
    if kind == PartyKind.municipality:
        ensure_acts_for(principal, ident)
    elif principal.role != ApiKeyRole.ops:
        raise Forbidden(f"a {kind}'s part of a round is read by ops", code=ErrorCode.NOT_A_PARTY)
    if round_.result is None:
        raise Conflict("the round is not solved yet", code=ErrorCode.ROUND_NOT_SOLVED)
    own = await repository.preferences(session, round_.id, [participant])
    if not own:
        raise NotFound(f"{participant} sent no preferences in round {round_.id}", field="participant")
    rows = [*own, *await repository.preferences(session, round_.id, set(entries(own[0].ranking)))]
    tie_break = TieBreak(TieBreakMethod(round_.tie_break_method), round_.tie_break_seed)
    solved = solved_round(
        round_.result,
        {row.participant: row.ranking for row in rows},
        {row.participant: row.capacity for row in rows},
        partner_kind(round_.market).value,
        tie_break.sort_key(),
        tie_break.method.value,
    )
    partners = solved.partners.get(participant, [])
    free = own[0].capacity - len(partners)
    view: dict[str, Any] = {
        "round_id": round_.id,
        "participant": participant,
        "capacity": own[0].capacity,
        "ranking": own[0].ranking,
        "partners": [{"partner": p, "rank": rank_of(own[0].ranking, p)} for p in sorted(partners)],
        "free_capacity": free,
        "explanation": explain(solved, participant) if free > 0 else None,
    }
    if tie_break.method == TieBreakMethod.lottery and tie_break.seed is not None:
        view["lottery_ticket"] = lottery_ticket(tie_break.seed, participant)
    return view
