"""Eligibility for 地域活性化起業人 (kigyojin) and 地域力創造アドバイザー (advisor): one source of truth.

The subsidy calculators and the matching filters both call these functions, so a pair that matching
recommends is a pair the subsidy rules accept, and the reasons people read are the same words.
Each check returns the reasons a party is NOT eligible; an empty list means eligible.
Dated parameters come from common/rules/eligibility.yaml.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from common.models import Municipality

RULES_FILE = Path(__file__).parent / "rules" / "eligibility.yaml"

# 条件不利地域, 定住自立圏 and high population decline admit a municipality inside the 三大都市圏.
HOST_SOURCE = "「地域活性化起業人（企業人材派遣制度）」「外部専門家（地域力創造アドバイザー）制度」 対象市町村"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class HostFacts:
    """What decides whether a municipality may host; the reference data gives the first two."""

    code: str
    name: str
    in_three_metro_area: bool
    has_disadvantaged_area: bool  # 条件不利地域: the reference data knows 過疎 only
    in_teiju_jiritsuken: bool = False
    high_population_decline: bool = False

    @classmethod
    def from_municipality(cls, municipality: Municipality, *, in_teiju_jiritsuken: bool = False,
                          high_population_decline: bool = False,
                          has_disadvantaged_area: bool | None = None) -> "HostFacts":
        return cls(
            code=municipality.code, name=municipality.name,
            in_three_metro_area=municipality.metro_area is not None,
            has_disadvantaged_area=(municipality.kaso_type is not None if has_disadvantaged_area is None
                                    else has_disadvantaged_area),
            in_teiju_jiritsuken=in_teiju_jiritsuken, high_population_decline=high_population_decline,
        )


# --- dated parameters -------------------------------------------------------------------------------

class _DatedValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    from_fiscal_year: int
    value: int
    citation: str


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kigyojin: dict[str, tuple[_DatedValue, ...]]
    advisor: dict[str, tuple[_DatedValue, ...]]


@dataclass(frozen=True)
class Parameter:
    name: str
    value: int
    fiscal_year: int
    citation: str


@cache
def _rules() -> _Rules:
    return _Rules.model_validate(yaml.safe_load(RULES_FILE.read_text(encoding="utf-8")))


def parameter(program: str, name: str, fiscal_year: int) -> Parameter:
    """The value of `program.name` in force in `fiscal_year` (KeyError/LookupError if there is none)."""
    entries = getattr(_rules(), program)[name]
    in_force = [e for e in entries if e.from_fiscal_year <= fiscal_year]
    if not in_force:
        raise LookupError(f"{program}.{name} has no value for fiscal year {fiscal_year}")
    entry = max(in_force, key=lambda e: e.from_fiscal_year)
    return Parameter(name, entry.value, fiscal_year, entry.citation)


# --- the checks -------------------------------------------------------------------------------------

def host_municipality_reasons(host: HostFacts) -> list[Reason]:
    """①三大都市圏外, or ②inside it with a 条件不利地域, a 定住自立圏 or a high rate of population decline."""
    if not host.in_three_metro_area:
        return []
    if host.has_disadvantaged_area or host.in_teiju_jiritsuken or host.high_population_decline:
        return []
    return [Reason("host_in_three_metro_area",
                   f"{host.name} is in the 三大都市圏 and has no 条件不利地域, no 定住自立圏 and no high population "
                   f"decline, so it cannot host ({HOST_SOURCE})")]


def company_reasons(company_in_three_metro_area: bool) -> list[Reason]:
    if company_in_three_metro_area:
        return []
    return [Reason("company_outside_three_metro_area",
                   "the company is not in the 三大都市圏 and has no head-office function there "
                   "(「地域活性化起業人」 対象者)")]


def satellite_office_company_reasons(company_in_three_metro_area: bool) -> list[Reason]:
    if company_in_three_metro_area:
        return []
    return [Reason("company_outside_three_metro_area",
                   "the company is not in the 三大都市圏; the satellite-office matching brings companies of the "
                   "three big metropolitan areas to municipalities (「サテライトオフィス・マッチング支援事業」 三大都市圏企業)")]


def dispatch_period_reasons(months: int, fiscal_year: int) -> list[Reason]:
    shortest = parameter("kigyojin", "dispatch_months_min", fiscal_year)
    longest = parameter("kigyojin", "dispatch_months_max", fiscal_year)
    if shortest.value <= months <= longest.value:
        return []
    return [Reason("dispatch_period_out_of_range",
                   f"a dispatch of {months} months is outside {shortest.value}–{longest.value} months "
                   f"({shortest.citation})")]


def kigyojin_pair_reasons(company_in_three_metro_area: bool, host: HostFacts, fiscal_year: int,
                          dispatch_months: int | None = None) -> list[Reason]:
    reasons = company_reasons(company_in_three_metro_area) + host_municipality_reasons(host)
    if dispatch_months is not None:
        reasons += dispatch_period_reasons(dispatch_months, fiscal_year)
    return reasons


def adviser_residence_reasons(adviser_municipality_code: str | None, host: HostFacts) -> list[Reason]:
    if adviser_municipality_code != host.code:
        return []
    return [Reason("adviser_lives_in_host",
                   f"the adviser lives in {host.name}; only experts living outside the municipality count "
                   "(「外部専門家（地域力創造アドバイザー）制度」 市町村外在住)")]


def advisor_year_reasons(year_of_use: int, fiscal_year: int) -> list[Reason]:
    limit = parameter("advisor", "max_years", fiscal_year)
    if year_of_use <= limit.value:
        return []
    return [Reason("advisor_years_exceeded",
                   f"year {year_of_use} of use is past the limit of {limit.value} years ({limit.citation})")]


def advisor_invitation_reasons(days: int, times: int, fiscal_year: int) -> list[Reason]:
    min_days = parameter("advisor", "min_invitation_days", fiscal_year)
    min_times = parameter("advisor", "min_invitation_times", fiscal_year)
    if days >= min_days.value or times >= min_times.value:
        return []
    return [Reason("advisor_too_few_invitations",
                   f"{days} days and {times} invitations are fewer than {min_days.value} days or "
                   f"{min_times.value} times in the fiscal year ({min_days.citation})")]


def advisor_pair_reasons(adviser_municipality_code: str | None, host: HostFacts) -> list[Reason]:
    """Whether an adviser may be invited by a host at all (before counting days or years)."""
    return host_municipality_reasons(host) + adviser_residence_reasons(adviser_municipality_code, host)
