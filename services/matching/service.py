"""Matching: profiles with tenancy, eligibility shared with the subsidy rules, ranked recommendations,
stable rounds, and the lifecycle of a match. Never commits: the request's session does."""

import re
from collections import defaultdict
from dataclasses import asdict

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.codes import local_government_code_problem
from common.eligibility import HostFacts, Reason, dispatch_period_reasons
from common.errors import Conflict, Forbidden, NotFound, Unprocessable
from common.models import Adviser, ApiKeyRole, Company, Match, MatchTransition, Municipality, Need, Round
from common.models.matching import (
    AdviserCreate, AdviserUpdate, CompanyCreate, CompanyUpdate, MatchCreate, MatchStatus, Market, NeedCreate,
    NeedUpdate, PartyKind, PreferencesIn, RoundCreate,
)
from common.pagination import encode_cursor
from common.requestid import current_request_id
from common.timeutil import utcnow
from common.error_codes import ErrorCode
from common.ids import new_id
from common.timeutil import current_fiscal_year
from services.matching import repository, scoring
from services.matching.scoring import HostView, PartnerView
from services.matching.solver import Side, deferred_acceptance

MAX_FIELDS, MAX_LISTED = 15, 50
PREFECTURE = re.compile(r"^(0[1-9]|[1-3][0-9]|4[0-7])$")

TRANSITIONS: dict[MatchStatus, tuple[MatchStatus, ...]] = {
    MatchStatus.proposed: (MatchStatus.accepted, MatchStatus.declined, MatchStatus.withdrawn),
    MatchStatus.accepted: (MatchStatus.agreement_signed, MatchStatus.withdrawn),
    MatchStatus.agreement_signed: (MatchStatus.active, MatchStatus.withdrawn),
    MatchStatus.active: (MatchStatus.completed,),
    MatchStatus.completed: (),
    MatchStatus.declined: (),
    MatchStatus.withdrawn: (),
}


def partner_kind(market: Market) -> PartyKind:
    return PartyKind.adviser if market == Market.advisor else PartyKind.company


def parse_party(value: str, field: str) -> tuple[PartyKind, str]:
    kind, _, ident = value.partition(":")
    if kind not in PartyKind.__members__ or not ident:
        raise Unprocessable(f"{value!r} is not municipality:CODE, company:ID or adviser:ID", field=field)
    return PartyKind(kind), ident


def ensure_acts_for(principal: Principal, municipality_code: str) -> None:
    """Ops, or the municipality itself: a municipality key acts only for its own code."""
    if principal.role == ApiKeyRole.ops:
        return
    if principal.role == ApiKeyRole.municipality and principal.municipality_code == municipality_code:
        return
    raise Forbidden(f"only municipality {municipality_code} (or ops) may do this", code=ErrorCode.NOT_A_PARTY)


def _reasons(reasons: list[Reason]) -> list[dict]:
    return [asdict(reason) for reason in reasons]


# --- validation shared by the profiles -------------------------------------------------------------

async def _municipality(session: AsyncSession, code: str, field: str) -> Municipality:
    if problem := local_government_code_problem(code):
        raise Unprocessable(problem, field=field)
    municipality = await repository.get_municipality(session, code)
    if municipality is None or municipality.type == "prefecture":
        raise Unprocessable(f"no municipality with code {code} in the reference data", field=field)
    return municipality


async def _check_fields(session: AsyncSession, fields: list[str]) -> list[str]:
    if len(fields) > MAX_FIELDS:
        raise Unprocessable(f"at most {MAX_FIELDS} fields of work", field="fields")
    unknown = sorted(set(fields) - await repository.field_codes(session))
    if unknown:
        raise Unprocessable(f"unknown field(s) of work: {', '.join(unknown)} (see GET /matching/fields)",
                            field="fields")
    return list(dict.fromkeys(fields))


def _check_prefectures(codes: list[str], field: str = "preferred_prefectures") -> list[str]:
    bad = [code for code in codes if not PREFECTURE.match(code)]
    if bad or len(codes) > 47:
        raise Unprocessable(f"prefecture codes are 01–47, at most 47 of them (got {bad[:3] or len(codes)})",
                            field=field)
    return list(dict.fromkeys(codes))


def _check_codes(codes: list[str], field: str) -> list[str]:
    if len(codes) > MAX_LISTED:
        raise Unprocessable(f"at most {MAX_LISTED} entries", field=field)
    for code in codes:
        if problem := local_government_code_problem(code):
            raise Unprocessable(problem, field=field)
    return list(dict.fromkeys(codes))


def _check_ids(ids: list[str], field: str) -> list[str]:
    if len(ids) > MAX_LISTED or any(not re.match(r"^[A-Za-z0-9_-]{1,40}$", i) for i in ids):
        raise Unprocessable(f"at most {MAX_LISTED} ids of letters, digits, _ and -", field=field)
    return list(dict.fromkeys(ids))


def _apply(row, changes: dict, nullable: set[str] = frozenset()) -> None:
    for name, value in changes.items():
        if value is None and name not in nullable:
            raise Unprocessable(f"{name} cannot be null", field=name)
        setattr(row, name, value)
    row.updated_at = utcnow()


async def _clean_lists(session: AsyncSession, values: dict) -> dict:
    if values.get("fields") is not None:
        values["fields"] = await _check_fields(session, values["fields"])
    if values.get("preferred_prefectures") is not None:
        values["preferred_prefectures"] = _check_prefectures(values["preferred_prefectures"])
    if values.get("wished_municipalities") is not None:
        values["wished_municipalities"] = _check_codes(values["wished_municipalities"], "wished_municipalities")
    if values.get("wished_partners") is not None:
        values["wished_partners"] = _check_ids(values["wished_partners"], "wished_partners")
    return values


# --- needs -----------------------------------------------------------------------------------------

def _check_need_period(market: Market, months: int | None) -> None:
    if market == Market.kigyojin and months is not None:
        if reasons := dispatch_period_reasons(months, current_fiscal_year()):
            raise Unprocessable(reasons[0].message, field="dispatch_months")


async def create_need(session: AsyncSession, principal: Principal, code: str, data: NeedCreate) -> Need:
    ensure_acts_for(principal, code)
    await _municipality(session, code, "code")
    values = await _clean_lists(session, data.model_dump())
    _check_need_period(data.market, data.dispatch_months)
    need = Need(id=new_id("need"), municipality_code=code, **values)
    session.add(need)
    await session.flush()
    return need


async def get_need(session: AsyncSession, code: str, need_id: str) -> Need:
    need = await session.get(Need, need_id)
    if need is None or need.municipality_code != code:
        raise NotFound(f"municipality {code} has no need {need_id}", field="need_id")
    return need


async def update_need(session: AsyncSession, principal: Principal, code: str, need_id: str,
                      data: NeedUpdate) -> Need:
    ensure_acts_for(principal, code)
    need = await get_need(session, code, need_id)
    changes = await _clean_lists(session, data.model_dump(exclude_unset=True))
    _apply(need, changes, nullable={"dispatch_months"})
    _check_need_period(need.market, need.dispatch_months)
    await session.flush()
    return need


# --- companies and advisers ------------------------------------------------------------------------

async def create_company(session: AsyncSession, data: CompanyCreate) -> Company:
    await _municipality(session, data.municipality_code, "municipality_code")
    if not data.markets:
        raise Unprocessable("name at least one market the company takes part in", field="markets")
    values = await _clean_lists(session, data.model_dump())
    values["markets"] = list(dict.fromkeys(values["markets"]))
    company = Company(id=new_id("co"), **values)
    session.add(company)
    await session.flush()
    return company


async def update_company(session: AsyncSession, company_id: str, data: CompanyUpdate) -> Company:
    company = await get_company(session, company_id)
    changes = await _clean_lists(session, data.model_dump(exclude_unset=True))
    if "markets" in changes and not changes["markets"]:
        raise Unprocessable("name at least one market the company takes part in", field="markets")
    _apply(company, changes, nullable={"dispatch_months"})
    await session.flush()
    return company


async def get_company(session: AsyncSession, company_id: str) -> Company:
    company = await session.get(Company, company_id)
    if company is None:
        raise NotFound(f"no company {company_id}", field="company_id")
    return company


async def create_adviser(session: AsyncSession, data: AdviserCreate) -> Adviser:
    await _municipality(session, data.municipality_code, "municipality_code")
    adviser = Adviser(id=new_id("adv"), **await _clean_lists(session, data.model_dump()))
    session.add(adviser)
    await session.flush()
    return adviser


async def update_adviser(session: AsyncSession, adviser_id: str, data: AdviserUpdate) -> Adviser:
    adviser = await get_adviser(session, adviser_id)
    changes = await _clean_lists(session, data.model_dump(exclude_unset=True))
    if changes.get("municipality_code") is not None:
        await _municipality(session, changes["municipality_code"], "municipality_code")
    _apply(adviser, changes)
    await session.flush()
    return adviser


async def get_adviser(session: AsyncSession, adviser_id: str) -> Adviser:
    adviser = await session.get(Adviser, adviser_id)
    if adviser is None:
        raise NotFound(f"no adviser {adviser_id}", field="adviser_id")
    return adviser


# --- the parties as the scoring sees them ----------------------------------------------------------

def host_view(municipality, needs: list[Need], under_way: int = 0) -> HostView:
    """`municipality` is a Municipality or a row of repository.municipality_facts."""
    facts = HostFacts.from_municipality(
        municipality, in_teiju_jiritsuken=any(n.in_teiju_jiritsuken for n in needs),
        high_population_decline=any(n.high_population_decline for n in needs))
    return HostView(
        code=municipality.code, name=municipality.name, pref_code=municipality.pref_code, facts=facts,
        fields=frozenset(f for n in needs for f in n.fields),
        wished_partners=frozenset(p for n in needs for p in n.wished_partners),
        capacity_left=sum(n.capacity for n in needs) - under_way,
    )


def partner_view(kind: PartyKind, row, home, under_way: int = 0) -> PartnerView:
    """`row` is a row of repository.partner_rows, `home` one of repository.municipality_facts."""
    is_company = kind == PartyKind.company
    in_metro = home.metro_area is not None or (is_company and row.head_office_function_in_three_metro_area)
    return PartnerView(
        kind=kind, id=row.id, name=row.name,
        municipality_code=row.municipality_code, pref_code=home.pref_code, in_three_metro_area=in_metro,
        fields=frozenset(row.fields), preferred_prefectures=frozenset(row.preferred_prefectures),
        wished_municipalities=frozenset(row.wished_municipalities),
        experience=row.track_record if is_company else row.experience_years,
        capacity_left=row.capacity - under_way, dispatch_months=row.dispatch_months if is_company else None,
        markets=frozenset(row.markets) if is_company else frozenset({Market.advisor}),
    )


async def hosts(session: AsyncSession, market: Market, codes: list[str] | None = None) -> list[HostView]:
    """Municipalities with open needs in `market` (or exactly `codes`, needs or not)."""
    needs_by_code: dict[str, list[Need]] = defaultdict(list)
    for need in await repository.open_needs(session, market):
        needs_by_code[need.municipality_code].append(need)
    wanted = codes if codes is not None else list(needs_by_code)
    municipalities = await repository.municipality_facts(session, wanted)
    under_way = await repository.matches_under_way(session, Match.municipality_code, market)
    return [host_view(municipalities[code], needs_by_code.get(code, []), under_way.get(code, 0))
            for code in sorted(municipalities)]


async def partners(session: AsyncSession, market: Market, ids: list[str] | None = None) -> list[PartnerView]:
    """Companies taking part in `market`, or advisers (or exactly `ids`)."""
    kind = partner_kind(market)
    model = Company if kind == PartyKind.company else Adviser
    rows = await repository.partner_rows(session, model, market=market if ids is None else None, ids=ids)
    homes = await repository.municipality_facts(session, {row.municipality_code for row in rows})
    under_way = await repository.matches_under_way(session, Match.company_id if model is Company
                                                   else Match.adviser_id)
    return [partner_view(kind, row, homes[row.municipality_code], under_way.get(row.id, 0)) for row in rows]


async def _subject_host(session: AsyncSession, market: Market, code: str, field: str) -> HostView:
    await _municipality(session, code, field)
    return (await hosts(session, market, [code]))[0]


async def _subject_partner(session: AsyncSession, market: Market, kind: PartyKind, ident: str,
                           field: str) -> PartnerView:
    if kind != partner_kind(market):
        raise Unprocessable(f"in the {market} market municipalities are matched with {partner_kind(market)}s",
                            field=field)
    found = await partners(session, market, [ident])
    if not found:
        raise NotFound(f"no {kind} {ident}", field=field)
    if market not in found[0].markets:
        raise Unprocessable(f"{kind} {ident} does not take part in the {market} market", field=field)
    return found[0]


# --- recommendations and explanations --------------------------------------------------------------

def _candidate(parts: dict[str, int], host: HostView, partner: PartnerView,
               candidate: HostView | PartnerView) -> dict:
    return {"candidate": candidate.party, "name": candidate.name,
            "municipality_code": candidate.code if isinstance(candidate, HostView) else candidate.municipality_code,
            "score": sum(parts.values()), "score_parts": parts, "eligible": True,
            "shared_fields": sorted(host.fields & partner.fields)}


async def recommend(session: AsyncSession, market: Market, subject: str, *, fiscal_year: int, limit: int,
                    offset: int, explain: bool) -> dict:
    kind, ident = parse_party(subject, "for")
    if kind == PartyKind.municipality:
        host = await _subject_host(session, market, ident, "for")
        pairs = [(host, partner, partner) for partner in await partners(session, market)]
    else:
        partner = await _subject_partner(session, market, kind, ident, "for")
        pairs = [(host, partner, host) for host in await hosts(session, market)]

    scored, excluded = [], []
    for host, partner, candidate in pairs:
        if reasons := scoring.pair_reasons(market, host, partner, fiscal_year):
            excluded.append({"candidate": candidate.party, "name": candidate.name, "eligible": False,
                             "reasons": _reasons(reasons)})
            continue
        parts = scoring.score_parts(host, partner)
        scored.append((scoring.rank_key(sum(parts.values()), candidate.party), parts, host, partner, candidate))
    scored.sort(key=lambda entry: entry[0])
    page = [_candidate(*entry[1:]) for entry in scored[offset:offset + limit]]
    result = {"market": market, "for": subject, "fiscal_year": fiscal_year, "items": page,
              "next_cursor": encode_cursor(str(offset + limit)) if offset + limit < len(scored) else None}
    if explain:
        result["excluded"] = sorted(excluded, key=lambda e: e["candidate"])
    return result


async def explain_pair(session: AsyncSession, market: Market, municipality_code: str, partner: str,
                       fiscal_year: int) -> dict:
    host = await _subject_host(session, market, municipality_code, "municipality")
    kind, ident = parse_party(partner, "partner")
    counterpart = await _subject_partner(session, market, kind, ident, "partner")
    reasons = scoring.pair_reasons(market, host, counterpart, fiscal_year)
    return {"market": market, "municipality": municipality_code, "partner": partner, "fiscal_year": fiscal_year,
            "eligible": not reasons, "reasons": _reasons(reasons)}


# --- rounds ----------------------------------------------------------------------------------------

async def create_round(session: AsyncSession, data: RoundCreate) -> Round:
    if data.proposing_side not in (PartyKind.municipality, partner_kind(data.market)):
        raise Unprocessable(f"in the {data.market} market the proposing side is municipality or "
                            f"{partner_kind(data.market)}", field="proposing_side")
    round_ = Round(id=new_id("rnd"), name=data.name, market=data.market, proposing_side=data.proposing_side)
    session.add(round_)
    await session.flush()
    return round_


async def get_round(session: AsyncSession, round_id: str) -> Round:
    round_ = await session.get(Round, round_id)
    if round_ is None:
        raise NotFound(f"no round {round_id}", field="round_id")
    return round_


async def _known(session: AsyncSession, kind: PartyKind, ids: list[str]) -> set[str]:
    model = {PartyKind.municipality: Municipality, PartyKind.company: Company, PartyKind.adviser: Adviser}[kind]
    return await repository.existing_ids(session, model, ids)


async def submit_preferences(session: AsyncSession, principal: Principal, round_id: str,
                             data: PreferencesIn) -> dict:
    round_ = await get_round(session, round_id)
    if round_.solved_at is not None:
        raise Conflict("the round is solved; preferences can no longer change", code=ErrorCode.ROUND_SOLVED)
    kind, ident = parse_party(data.participant, "participant")
    other = partner_kind(round_.market)
    if kind not in (PartyKind.municipality, other):
        raise Unprocessable(f"the {round_.market} market has municipalities and {other}s", field="participant")
    if kind == PartyKind.municipality:
        ensure_acts_for(principal, ident)
    elif principal.role != ApiKeyRole.ops:
        raise Forbidden(f"{other} preferences are entered by ops", code=ErrorCode.NOT_A_PARTY)
    if not await _known(session, kind, [ident]):
        raise NotFound(f"no {kind} {ident}", field="participant")

    ranked_kind = other if kind == PartyKind.municipality else PartyKind.municipality
    ranked = [parse_party(entry, "ranking") for entry in data.ranking]
    if any(k != ranked_kind for k, _ in ranked):
        raise Unprocessable(f"a {kind} ranks {ranked_kind}s only", field="ranking")
    if len(set(data.ranking)) != len(data.ranking):
        raise Unprocessable("the ranking names someone twice", field="ranking")
    unknown = sorted({i for _, i in ranked} - await _known(session, ranked_kind, [i for _, i in ranked]))
    if unknown:
        raise Unprocessable(f"unknown {ranked_kind}(s) in the ranking: {', '.join(unknown[:5])}", field="ranking")
    await repository.upsert_preference(session, round_id, data.participant, data.capacity, data.ranking)
    return {"round_id": round_id, "participant": data.participant, "capacity": data.capacity,
            "ranking": data.ranking}


async def _round_exclusions(session: AsyncSession, market: Market, participants: list[str],
                            ranked_pairs: set[tuple[str, str]]):
    """Which participants and which (municipality, partner) pairs the eligibility rules exclude."""
    fiscal_year = current_fiscal_year()
    codes = [parse_party(p, "participant")[1] for p in participants if p.startswith("municipality:")]
    partner_ids = [parse_party(p, "participant")[1] for p in participants if not p.startswith("municipality:")]
    host_list = await hosts(session, market, codes)
    partner_list = await partners(session, market, partner_ids)
    excluded = {host.party: scoring.host_reasons(market, host) for host in host_list}
    excluded |= {partner.party: scoring.partner_reasons(market, partner, fiscal_year) for partner in partner_list}
    excluded = {party: reasons for party, reasons in excluded.items() if reasons}
    host_by_party = {h.party: h for h in host_list}
    partner_by_party = {p.party: p for p in partner_list}
    excluded_pairs = {}
    for municipality, partner in ranked_pairs:
        if municipality in host_by_party and partner in partner_by_party:
            if reasons := scoring.pair_only_reasons(market, host_by_party[municipality], partner_by_party[partner]):
                excluded_pairs[(municipality, partner)] = reasons
    return excluded, excluded_pairs


async def solve_round(session: AsyncSession, round_id: str) -> dict:
    round_ = await get_round(session, round_id)
    if round_.solved_at is not None:
        raise Conflict("the round is already solved; GET it for the result", code=ErrorCode.ROUND_SOLVED)
    market = Market(round_.market)
    rows = await repository.preferences(session, round_id)
    rankings = {row.participant: row.ranking for row in rows}
    capacities = {row.participant: row.capacity for row in rows}

    ranked_pairs = set()
    if market == Market.advisor:  # only the advisor market has a rule about the pair itself
        ranked_pairs = {(p, o) if p.startswith("municipality:") else (o, p)
                        for p, ranking in rankings.items() for o in ranking}
    excluded, excluded_pairs = await _round_exclusions(session, market, list(rankings), ranked_pairs)

    filtered = {p: [] if p in excluded else [o for o in ranking if o not in excluded]
                for p, ranking in rankings.items()}
    for municipality, partner in excluded_pairs:
        filtered[municipality] = [o for o in filtered[municipality] if o != partner]
        filtered[partner] = [o for o in filtered[partner] if o != municipality]
    municipality_side = Side({p: r for p, r in filtered.items() if p.startswith("municipality:")}, capacities)
    partner_side = Side({p: r for p, r in filtered.items() if not p.startswith("municipality:")}, capacities)
    municipalities_propose = round_.proposing_side == PartyKind.municipality
    if municipalities_propose:
        pairs = deferred_acceptance(municipality_side, partner_side)
    else:
        pairs = {(m, p) for p, m in deferred_acceptance(partner_side, municipality_side)}

    result = _round_result(round_, rankings, pairs, excluded, excluded_pairs)
    now = utcnow()
    if not await repository.mark_solved(session, round_id, result, now):
        raise Conflict("the round was solved by another request meanwhile", code=ErrorCode.ROUND_SOLVED)
    return {**result, "solved_at": now.isoformat()}


def _round_result(round_: Round, rankings: dict[str, list[str]], pairs: set[tuple[str, str]],
                  excluded: dict, excluded_pairs: dict) -> dict:
    other = partner_kind(round_.market).value
    assignment = [
        {"municipality": municipality.partition(":")[2], other: partner.partition(":")[2],
         "municipality_rank": rankings[municipality].index(partner) + 1,
         f"{other}_rank": rankings[partner].index(municipality) + 1}
        for municipality, partner in sorted(pairs)
    ]
    matched = {party for pair in pairs for party in pair}
    return {
        "round_id": round_.id, "market": round_.market, "proposing_side": round_.proposing_side,
        "assignment": assignment,
        "unmatched": sorted(set(rankings) - matched),
        "excluded": [{"participant": party, "reasons": _reasons(reasons)}
                     for party, reasons in sorted(excluded.items())],
        "excluded_pairs": [{"municipality": m.partition(":")[2], other: p.partition(":")[2],
                            "reasons": _reasons(reasons)} for (m, p), reasons in sorted(excluded_pairs.items())],
    }


async def propose_round_matches(session: AsyncSession, principal: Principal, round_id: str) -> list[Match]:
    """A proposed match for every pair the solved round assigned; calling again adds none twice."""
    round_ = await get_round(session, round_id)
    if round_.result is None:
        raise Conflict("solve the round first", code=ErrorCode.ROUND_NOT_SOLVED)
    other = partner_kind(round_.market).value
    existing = {(m.municipality_code, m.company_id or m.adviser_id)
                for m in await repository.matches_of_round(session, round_id)}
    created = []
    for pair in round_.result["assignment"]:
        if (pair["municipality"], pair[other]) in existing:
            continue
        match = Match(id=new_id("match"), market=round_.market, municipality_code=pair["municipality"],
                      round_id=round_id, status=MatchStatus.proposed, **{f"{other}_id": pair[other]})
        session.add(match)
        session.add(_transition_record(principal, match.id, None, MatchStatus.proposed))
        created.append(match)
    await session.flush()
    return created


def round_view(round_: Round) -> dict:
    return {"id": round_.id, "name": round_.name, "market": round_.market, "proposing_side": round_.proposing_side,
            "created_at": round_.created_at, "solved_at": round_.solved_at, "result": round_.result}


# --- matches and their lifecycle -------------------------------------------------------------------

async def create_match(session: AsyncSession, principal: Principal, data: MatchCreate) -> Match:
    ensure_acts_for(principal, data.municipality_code)
    other = partner_kind(data.market)
    partner_id = data.adviser_id if other == PartyKind.adviser else data.company_id
    wrong_id = data.company_id if other == PartyKind.adviser else data.adviser_id
    field = f"{other}_id"
    if partner_id is None or wrong_id is not None:
        raise Unprocessable(f"a {data.market} match names a {field} and nothing else", field=field)
    host = await _subject_host(session, data.market, data.municipality_code, "municipality_code")
    partner = await _subject_partner(session, data.market, other, partner_id, field)
    if data.need_id is not None:
        need = await session.get(Need, data.need_id)
        if need is None or need.municipality_code != data.municipality_code or need.market != data.market:
            raise Unprocessable(f"{data.need_id} is not a {data.market} need of {data.municipality_code}",
                                field="need_id")
    if data.round_id is not None:
        await get_round(session, data.round_id)
    if reasons := scoring.pair_reasons(data.market, host, partner, current_fiscal_year()):
        raise Unprocessable("this pair is not eligible: " + "; ".join(r.message for r in reasons),
                            code=ErrorCode.INELIGIBLE_PAIR, field=field)
    match = Match(id=new_id("match"), status=MatchStatus.proposed, **data.model_dump())
    session.add(match)
    session.add(_transition_record(principal, match.id, None, MatchStatus.proposed))
    await session.flush()
    return match


def _transition_record(principal: Principal, match_id: str, from_status, to_status) -> MatchTransition:
    return MatchTransition(match_id=match_id, from_status=from_status, to_status=to_status,
                           actor=principal.describe(), actor_key_id=principal.key_id,
                           request_id=current_request_id())


async def get_match(session: AsyncSession, principal: Principal, match_id: str) -> Match:
    match = await session.get(Match, match_id)
    if match is None:
        raise NotFound(f"no match {match_id}", field="match_id")
    ensure_acts_for(principal, match.municipality_code)
    return match


async def transition(session: AsyncSession, principal: Principal, match_id: str, to: MatchStatus) -> Match:
    match = await get_match(session, principal, match_id)
    current = MatchStatus(match.status)
    allowed = TRANSITIONS[current]
    if to not in allowed:
        options = ", ".join(allowed) if allowed else f"nothing: {current} is final"
        raise Conflict(f"a {current} match cannot move to {to}; allowed: {options}",
                       code=ErrorCode.ILLEGAL_TRANSITION, field="to")
    if not await repository.move_match(session, match_id, current, to, utcnow()):
        raise Conflict("the match changed meanwhile; read it again", code=ErrorCode.CONCURRENT_TRANSITION, field="to")
    session.add(_transition_record(principal, match_id, current, to))
    await session.flush()
    await session.refresh(match)
    return match


MATCH_FIELDS = ("id", "market", "municipality_code", "company_id", "adviser_id", "need_id", "round_id", "status",
                "created_at", "updated_at")


def match_summary(match: Match) -> dict:
    return {name: getattr(match, name) for name in MATCH_FIELDS}


async def match_view(session: AsyncSession, match: Match) -> dict:
    history = await repository.transitions(session, match.id)
    return {
        **match_summary(match),
        "allowed_transitions": list(TRANSITIONS[MatchStatus(match.status)]),
        "history": [{"from": t.from_status, "to": t.to_status, "actor": t.actor, "actor_key_id": t.actor_key_id,
                     "request_id": t.request_id, "at": t.at} for t in history],
    }
