"""Who may pair with whom in each market (through common.eligibility), and how well they fit.

A score is a sum of integer points, at most 100, so a ranking is exact and the same on every run:
  field_overlap      0–50  share of the municipality's fields of work that the counterpart covers
  region             0–20  20 if the counterpart prefers the municipality's prefecture, 10 if it states no
                           preference, 0 otherwise
  capacity           0–10  10 while both sides still have room (capacity minus matches under way)
  experience         0–10  the company's past dispatches or offices, the adviser's years, capped at 10
  stated_preferences 0–10  5 for each side that named the other
Ties are broken by the candidate's id, so equal scores always come out in the same order.
"""

from dataclasses import dataclass

from common.adviser_years import AdviserYears
from common.eligibility import (
    HostFacts,
    Reason,
    adviser_residence_reasons,
    company_reasons,
    dispatch_period_reasons,
    host_municipality_reasons,
    satellite_office_company_reasons,
)
from common.models.matching import Market, PartyKind

FIELD_POINTS, REGION_POINTS, CAPACITY_POINTS, EXPERIENCE_POINTS, WISH_POINTS = 50, 20, 10, 10, 5


@dataclass(frozen=True)
class HostView:
    """A municipality as a party of one market: reference facts plus what its open needs say."""

    code: str
    name: str
    pref_code: str
    facts: HostFacts
    fields: frozenset[str]
    wished_partners: frozenset[str]
    capacity_left: int
    adviser_years: AdviserYears | None = None  # the advisor market: the years it has used an adviser

    @property
    def party(self) -> str:
        return f"{PartyKind.municipality}:{self.code}"


@dataclass(frozen=True)
class PartnerView:
    """A company or an adviser as a party of one market."""

    kind: PartyKind
    id: str
    name: str
    municipality_code: str  # head office, or where the adviser lives
    pref_code: str
    in_three_metro_area: bool
    fields: frozenset[str]
    preferred_prefectures: frozenset[str]
    wished_municipalities: frozenset[str]
    experience: int
    capacity_left: int
    markets: frozenset[str]
    dispatch_months: int | None = None

    @property
    def party(self) -> str:
        return f"{self.kind}:{self.id}"


# --- eligibility: one reason list per side, and the pair -------------------------------------------


def host_reasons(market: Market, host: HostView) -> list[Reason]:
    if market == Market.satellite_office:
        return []
    reasons = host_municipality_reasons(host.facts)
    if market == Market.advisor and host.adviser_years is not None:
        reasons += host.adviser_years.reasons()
    return reasons


def partner_reasons(market: Market, partner: PartnerView, fiscal_year: int) -> list[Reason]:
    if market == Market.kigyojin:
        reasons = company_reasons(partner.in_three_metro_area)
        if partner.dispatch_months is not None:
            reasons += dispatch_period_reasons(partner.dispatch_months, fiscal_year)
        return reasons
    if market == Market.satellite_office:
        return satellite_office_company_reasons(partner.in_three_metro_area)
    return []


def pair_only_reasons(market: Market, host: HostView, partner: PartnerView) -> list[Reason]:
    """What excludes the pair beyond each side on its own: an adviser may not serve where they live."""
    if market == Market.advisor:
        return adviser_residence_reasons(partner.municipality_code, host.facts)
    return []


def pair_reasons(market: Market, host: HostView, partner: PartnerView, fiscal_year: int) -> list[Reason]:
    return (
        partner_reasons(market, partner, fiscal_year)
        + host_reasons(market, host)
        + pair_only_reasons(market, host, partner)
    )


# --- the score --------------------------------------------------------------------------------------


def score_parts(host: HostView, partner: PartnerView) -> dict[str, int]:
    shared = len(host.fields & partner.fields)
    if not partner.preferred_prefectures:
        region = REGION_POINTS // 2
    else:
        region = REGION_POINTS if host.pref_code in partner.preferred_prefectures else 0
    return {
        "field_overlap": FIELD_POINTS * shared // len(host.fields) if host.fields else 0,
        "region": region,
        "capacity": CAPACITY_POINTS if host.capacity_left > 0 and partner.capacity_left > 0 else 0,
        "experience": min(EXPERIENCE_POINTS, partner.experience),
        "stated_preferences": WISH_POINTS * (partner.id in host.wished_partners)
        + WISH_POINTS * (host.code in partner.wished_municipalities),
    }


def partner_points(pref_code: str, partner: PartnerView) -> int:
    """The points that depend on the partner and the host's prefecture only (region, experience)."""
    if not partner.preferred_prefectures:
        region = REGION_POINTS // 2
    else:
        region = REGION_POINTS if pref_code in partner.preferred_prefectures else 0
    return region + min(EXPERIENCE_POINTS, partner.experience)


def pair_points(host: HostView, partner: PartnerView) -> int:
    """The other points (field overlap, capacity, stated preferences)."""
    total = FIELD_POINTS * len(host.fields & partner.fields) // len(host.fields) if host.fields else 0
    if host.capacity_left > 0 and partner.capacity_left > 0:
        total += CAPACITY_POINTS
    return total + WISH_POINTS * ((partner.id in host.wished_partners) + (host.code in partner.wished_municipalities))


def score(host: HostView, partner: PartnerView) -> int:
    """The sum of `score_parts` without building them: recommendations rank thousands of candidates a query, and
    the registry index keeps each partner's `partner_points` per prefecture."""
    return partner_points(host.pref_code, partner) + pair_points(host, partner)


def rank_key(score: int, candidate_party: str) -> tuple[int, str]:
    return -score, candidate_party
