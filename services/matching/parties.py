"""The parties of a market: who acts for whom, party names (`municipality:CODE`, `company:ID`, `adviser:ID`),
and the municipalities, companies and advisers as the scoring sees them."""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import asdict

from sqlalchemy.orm import Mapped
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from common.adviser_years import AdviserYears, adviser_years_of
from common.auth import Principal
from common.codes import local_government_code_problem
from common.eligibility import HostFacts, MunicipalityFacts, Reason
from common.error_codes import ErrorCode
from common.errors import Forbidden, NotFound, Unprocessable
from common.models import Adviser, ApiKeyRole, Company, Match, Municipality, Need
from common.models.matching import Market, PartyKind
from common.timeutil import current_fiscal_year
from services.matching import repository
from services.matching.repository import AdviserRow, CompanyRow
from services.matching.scoring import HostView, PartnerView


def partner_kind(market: Market) -> PartyKind:
    return PartyKind.adviser if market == Market.advisor else PartyKind.company


def parse_party(value: str, field: str) -> tuple[PartyKind, str]:
    kind, _, ident = value.partition(":")
    if kind not in PartyKind.__members__ or not ident:
        raise Unprocessable(f"{value!r} is not municipality:CODE, company:ID or adviser:ID", field=field)
    return PartyKind(kind), ident


def is_municipality(party: str) -> bool:
    return party.startswith(f"{PartyKind.municipality}:")


def ensure_acts_for(principal: Principal, municipality_code: str) -> None:
    """Ops, or the municipality itself: a municipality key acts only for its own code."""
    if principal.role == ApiKeyRole.ops:
        return
    if principal.role == ApiKeyRole.municipality and principal.municipality_code == municipality_code:
        return
    raise Forbidden(f"only municipality {municipality_code} (or ops) may do this", code=ErrorCode.NOT_A_PARTY)


def reasons_json(reasons: list[Reason]) -> list[dict[str, str]]:
    return [asdict(reason) for reason in reasons]


async def municipality(session: AsyncSession, code: str, field: str) -> Municipality:
    """The municipality (not a prefecture) with this code, or a 422 naming `field`."""
    if problem := local_government_code_problem(code):
        raise Unprocessable(problem, field=field)
    found = await repository.get_municipality(session, code)
    if found is None or found.type == "prefecture":
        raise Unprocessable(f"no municipality with code {code} in the reference data", field=field)
    return found


async def known_ids(session: AsyncSession, kind: PartyKind, ids: Collection[str]) -> set[str]:
    """Which of `ids` name an existing municipality, company or adviser."""
    key = {
        PartyKind.municipality: col(Municipality.code),
        PartyKind.company: col(Company.id),
        PartyKind.adviser: col(Adviser.id),
    }[kind]
    return await repository.existing_ids(session, key, ids)


# --- the parties as the scoring sees them ----------------------------------------------------------


def host_view(
    facts: MunicipalityFacts, needs: list[Need], under_way: int = 0, adviser_years: AdviserYears | None = None
) -> HostView:
    host_facts = HostFacts.from_municipality(
        facts,
        in_teiju_jiritsuken=any(n.in_teiju_jiritsuken for n in needs),
        high_population_decline=any(n.high_population_decline for n in needs),
    )
    return HostView(
        code=facts.code,
        name=facts.name,
        pref_code=facts.pref_code,
        facts=host_facts,
        fields=frozenset(f for n in needs for f in n.fields),
        wished_partners=frozenset(p for n in needs for p in n.wished_partners),
        capacity_left=sum(n.capacity for n in needs) - under_way,
        adviser_years=adviser_years,
    )


def company_view(row: CompanyRow, home: MunicipalityFacts, under_way: int = 0) -> PartnerView:
    return PartnerView(
        kind=PartyKind.company,
        id=row.id,
        name=row.name,
        municipality_code=row.municipality_code,
        pref_code=home.pref_code,
        in_three_metro_area=home.metro_area is not None or row.head_office_function_in_three_metro_area,
        fields=frozenset(row.fields),
        preferred_prefectures=frozenset(row.preferred_prefectures),
        wished_municipalities=frozenset(row.wished_municipalities),
        experience=row.track_record,
        capacity_left=row.capacity - under_way,
        dispatch_months=row.dispatch_months,
        markets=frozenset(row.markets),
    )


def adviser_view(row: AdviserRow, home: MunicipalityFacts, under_way: int = 0) -> PartnerView:
    return PartnerView(
        kind=PartyKind.adviser,
        id=row.id,
        name=row.name,
        municipality_code=row.municipality_code,
        pref_code=home.pref_code,
        in_three_metro_area=home.metro_area is not None,
        fields=frozenset(row.fields),
        preferred_prefectures=frozenset(row.preferred_prefectures),
        wished_municipalities=frozenset(row.wished_municipalities),
        experience=row.experience_years,
        capacity_left=row.capacity - under_way,
        markets=frozenset({Market.advisor}),
    )


async def hosts(
    session: AsyncSession,
    market: Market,
    codes: list[str] | None = None,
    fiscal_year: int | None = None,
    known: dict[str, MunicipalityFacts] | None = None,
) -> list[HostView]:
    """Municipalities with open needs in `market` (or exactly `codes`, needs or not), as of `fiscal_year`;
    `known` gives facts already read."""
    needs_by_code: dict[str, list[Need]] = defaultdict(list)
    for need in await repository.open_needs(session, market, codes):
        needs_by_code[need.municipality_code].append(need)
    wanted = codes if codes is not None else list(needs_by_code)
    facts = known if known is not None else await repository.municipality_facts(session, wanted)
    under_way = await repository.matches_under_way(session, col(Match.municipality_code), market, codes)
    years: dict[str, AdviserYears] = {}
    if market == Market.advisor:
        years = await adviser_years_of(session, list(facts), fiscal_year or current_fiscal_year())
    return [
        host_view(facts[code], needs_by_code.get(code, []), under_way.get(code, 0), years.get(code))
        for code in sorted(facts)
    ]


def partner_column(market: Market) -> Mapped[str | None]:
    return col(Match.adviser_id) if partner_kind(market) == PartyKind.adviser else col(Match.company_id)


async def partners(
    session: AsyncSession, market: Market, ids: list[str] | None = None, *, count_under_way: bool = True
) -> list[PartnerView]:
    """Companies taking part in `market`, or advisers (or exactly `ids`); their capacity left counts the matches
    under way unless `count_under_way` is False."""
    under_way = await repository.matches_under_way(session, partner_column(market)) if count_under_way else {}
    if partner_kind(market) == PartyKind.adviser:
        advisers = await repository.adviser_rows(session, ids=ids)
        homes = await repository.municipality_facts(session, {row.municipality_code for row in advisers})
        return [adviser_view(row, homes[row.municipality_code], under_way.get(row.id, 0)) for row in advisers]
    companies = await repository.company_rows(session, market=market if ids is None else None, ids=ids)
    homes = await repository.municipality_facts(session, {row.municipality_code for row in companies})
    return [company_view(row, homes[row.municipality_code], under_way.get(row.id, 0)) for row in companies]


async def subject_host(
    session: AsyncSession, market: Market, code: str, field: str, fiscal_year: int | None = None
) -> HostView:
    """The municipality `code` as a host in `market` (as of `fiscal_year`), or a 422 naming `field`."""
    found = await municipality(session, code, field)
    return (await hosts(session, market, [code], fiscal_year, known={code: found}))[0]


async def subject_partner(
    session: AsyncSession, market: Market, kind: PartyKind, ident: str, field: str
) -> PartnerView:
    """The company or adviser `ident` as a party of `market`, or a 4xx naming `field`."""
    if kind != partner_kind(market):
        raise Unprocessable(
            f"in the {market} market municipalities are matched with {partner_kind(market)}s", field=field
        )
    found = await partners(session, market, [ident])
    if not found:
        raise NotFound(f"no {kind} {ident}", field=field)
    if market not in found[0].markets:
        raise Unprocessable(f"{kind} {ident} does not take part in the {market} market", field=field)
    return found[0]
