"""Eligibility: one source of truth for 地域活性化起業人 (kigyojin), 地域力創造アドバイザー (advisor) and the
residents of a municipal point program (自治体マイナポイント).

The subsidy calculators and the matching filters both call these functions, so a pair that matching
recommends is a pair the subsidy rules accept, and the reasons people read are the same words; the point
issuance service checks its residents here too.
Each check returns the reasons a party is NOT eligible; an empty list means eligible.
The primitive checks take their limits as arguments (the subsidy calculators pass the values of their dated,
possibly what-if parameters); the fiscal-year forms read the same values from the subsidy rules files.
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, Protocol

import yaml

from common.settings import PROJECT_ROOT
from common.timeutil import JST, aware

RULES_DIR = PROJECT_ROOT / "services" / "subsidy" / "rules"

# 条件不利地域, 定住自立圏 and high population decline admit a municipality inside the 三大都市圏.
HOST_SOURCE = "「地域活性化起業人（企業人材派遣制度）」「外部専門家（地域力創造アドバイザー）制度」 対象市町村"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


class MunicipalityFacts(Protocol):
    """What the host rules read of a municipality: a Municipality row, or a light row of those columns."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def pref_code(self) -> str: ...
    @property
    def metro_area(self) -> str | None: ...
    @property
    def kaso_type(self) -> str | None: ...


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
    def from_municipality(
        cls,
        municipality: MunicipalityFacts,
        *,
        in_teiju_jiritsuken: bool = False,
        high_population_decline: bool = False,
        has_disadvantaged_area: bool | None = None,
    ) -> "HostFacts":
        return cls(
            code=municipality.code,
            name=municipality.name,
            in_three_metro_area=municipality.metro_area is not None,
            has_disadvantaged_area=(
                municipality.kaso_type is not None if has_disadvantaged_area is None else has_disadvantaged_area
            ),
            in_teiju_jiritsuken=in_teiju_jiritsuken,
            high_population_decline=high_population_decline,
        )


# --- dated parameters -------------------------------------------------------------------------------
# The limits live in the subsidy service's rules files, where they are validated, cited and traced; callers
# that have no rules context of their own (matching) read them here, so there is one copy of each number.


@dataclass(frozen=True)
class Parameter:
    name: str
    value: int
    fiscal_year: int
    citation: str


@cache
def _program_parameters(program: str) -> dict[str, Any]:
    document = yaml.safe_load((RULES_DIR / f"{program}.yaml").read_text(encoding="utf-8"))
    parameters: dict[str, Any] = document["parameters"]
    return parameters


def parameter(program: str, name: str, fiscal_year: int) -> Parameter:
    """The value of `program.name` in force in `fiscal_year`.

    A year after the last one the rules cover gets the newest value: matching runs today, and its filters
    follow the newest published rules until new ones are added (subsidy calculations, which pay money,
    refuse such a year instead). A year before the rules begin is a LookupError.
    """
    values = [v for v in _program_parameters(program)[name]["values"] if v["value"] is not None]
    in_force = [v for v in values if v["from"] <= fiscal_year <= v["to"]]
    if not in_force and values and fiscal_year > max(v["to"] for v in values):
        in_force = [max(values, key=lambda v: v["to"])]
    if not in_force:
        raise LookupError(f"{program}.{name} has no value for fiscal year {fiscal_year}")
    citation = _program_parameters(program)[name]["citation"]
    return Parameter(name, in_force[0]["value"], fiscal_year, citation)


# --- the checks -------------------------------------------------------------------------------------


def host_municipality_reasons(host: HostFacts) -> list[Reason]:
    """①三大都市圏外, or ②inside it with a 条件不利地域, a 定住自立圏 or a high rate of population decline."""
    if not host.in_three_metro_area:
        return []
    if host.has_disadvantaged_area or host.in_teiju_jiritsuken or host.high_population_decline:
        return []
    return [
        Reason(
            "host_in_three_metro_area",
            f"{host.name} is in the 三大都市圏 and has no 条件不利地域, no 定住自立圏 and no high population "
            f"decline, so it cannot host ({HOST_SOURCE})",
        )
    ]


def company_reasons(company_in_three_metro_area: bool) -> list[Reason]:
    if company_in_three_metro_area:
        return []
    return [
        Reason(
            "company_outside_three_metro_area",
            "the company is not in the 三大都市圏 and has no head-office function there (「地域活性化起業人」 対象者)",
        )
    ]


def satellite_office_company_reasons(company_in_three_metro_area: bool) -> list[Reason]:
    if company_in_three_metro_area:
        return []
    return [
        Reason(
            "company_outside_three_metro_area",
            "the company is not in the 三大都市圏; the satellite-office matching brings companies of the "
            "three big metropolitan areas to municipalities "
            "(「サテライトオフィス・マッチング支援事業」 三大都市圏企業)",
        )
    ]


def dispatch_months_reasons(months: int, min_months: int, max_months: int) -> list[Reason]:
    if min_months <= months <= max_months:
        return []
    return [
        Reason(
            "dispatch_period_out_of_range",
            f"a dispatch of {months} months is outside {min_months}–{max_months} months "
            "(「地域活性化起業人」 期間 ６ヵ月 ～ ３年)",
        )
    ]


def dispatch_period_reasons(months: int, fiscal_year: int) -> list[Reason]:
    shortest = parameter("kigyojin", "min_dispatch_months", fiscal_year)
    longest = parameter("kigyojin", "max_dispatch_months", fiscal_year)
    return dispatch_months_reasons(months, shortest.value, longest.value)


def kigyojin_pair_reasons(
    company_in_three_metro_area: bool, host: HostFacts, fiscal_year: int, dispatch_months: int | None = None
) -> list[Reason]:
    reasons = company_reasons(company_in_three_metro_area) + host_municipality_reasons(host)
    if dispatch_months is not None:
        reasons += dispatch_period_reasons(dispatch_months, fiscal_year)
    return reasons


def adviser_outside_reasons(adviser_lives_outside: bool) -> list[Reason]:
    if adviser_lives_outside:
        return []
    return [
        Reason(
            "adviser_lives_in_host",
            "the adviser lives in the municipality; only experts living outside it count "
            "(「外部専門家（地域力創造アドバイザー）制度」 市町村外在住)",
        )
    ]


def adviser_residence_reasons(adviser_municipality_code: str | None, host: HostFacts) -> list[Reason]:
    return adviser_outside_reasons(adviser_municipality_code != host.code)


def advisor_year_reasons(year_of_use: int, max_years: int) -> list[Reason]:
    if year_of_use <= max_years:
        return []
    return [
        Reason(
            "advisor_years_exceeded",
            f"year {year_of_use} of use is past the limit of {max_years} years "
            "(「外部専門家（地域力創造アドバイザー）制度」 最大３年間)",
        )
    ]


def advisor_invitation_reasons(days: int, times: int, min_days: int, min_times: int) -> list[Reason]:
    if days >= min_days or times >= min_times:
        return []
    return [
        Reason(
            "advisor_too_few_invitations",
            f"{days} days and {times} invitations are fewer than {min_days} days or {min_times} times in "
            "the fiscal year (「外部専門家（地域力創造アドバイザー）制度」 延べ１０日以上又は５回以上)",
        )
    ]


def project_manager_year_reasons(year_of_service: int, max_years: int) -> list[Reason]:
    if year_of_service <= max_years:
        return []
    return [
        Reason(
            "project_manager_years_exceeded",
            f"year {year_of_service} of service is past the limit of {max_years} years per person",
        )
    ]


def project_manager_residence_reasons(moved_in: bool, local_exception: bool) -> list[Reason]:
    """A move of residence into a 条件不利地域, except local ex-協力隊 / ex-起業人."""
    if moved_in or local_exception:
        return []
    return [
        Reason(
            "no_move_of_residence", "no move of residence into a 条件不利地域, and not a local ex-協力隊 / ex-起業人"
        )
    ]


def advisor_pair_reasons(adviser_municipality_code: str | None, host: HostFacts) -> list[Reason]:
    """Whether an adviser may be invited by a host at all (before counting days or years)."""
    return host_municipality_reasons(host) + adviser_residence_reasons(adviser_municipality_code, host)


# --- residents of a municipal point program (自治体マイナポイント) ---------------------------------------


class PointTerms(Protocol):
    """What resident eligibility reads of a point program: its window and its rules (Program.eligibility)."""

    @property
    def opens_at(self) -> datetime: ...
    @property
    def closes_at(self) -> datetime: ...
    @property
    def eligibility(self) -> dict[str, Any]: ...


class ResidentFacts(Protocol):
    """What the municipality's roster attests of a resident."""

    @property
    def birth_date(self) -> date | None: ...
    @property
    def household_with_children(self) -> bool: ...
    @property
    def income_band(self) -> int | None: ...
    @property
    def activity_participation(self) -> bool: ...
    @property
    def card_applied_on(self) -> date | None: ...


def window_reasons(program: PointTerms, now: datetime) -> list[Reason]:
    opens, closes = aware(program.opens_at), aware(program.closes_at)
    if opens <= now < closes:
        return []
    return [
        Reason(
            "outside_window",
            "Applications for this program are not open now "
            f"(open {opens.astimezone(JST):%Y-%m-%d} to {closes.astimezone(JST):%Y-%m-%d} JST).",
        )
    ]


def resident_reasons(program: PointTerms, entry: ResidentFacts | None, now: datetime) -> list[Reason]:
    """Why a resident may not receive this program's points, in plain words; empty when eligible."""
    if closed := window_reasons(program, now):
        return closed
    if entry is None:
        return [
            Reason(
                "not_on_roster",
                "You are not on the municipality's list of residents for this program; please ask the municipality.",
            )
        ]
    rules, reasons = program.eligibility, []
    if rules.get("min_age") is not None or rules.get("max_age") is not None:
        reasons += _age_reasons(program, entry, rules)
    if rules.get("household_with_children") and not entry.household_with_children:
        reasons.append(Reason("no_children_in_household", "This program is for households with children."))
    band = rules.get("max_income_band")
    if band is not None and (entry.income_band is None or entry.income_band > band):
        reasons.append(Reason("income_too_high", f"This program is for income band {band} or below."))
    if rules.get("requires_activity") and not entry.activity_participation:
        reasons.append(Reason("no_activity", "This program is for residents who took part in the local activity."))
    if rules.get("card_applied_by"):
        reasons += _card_reasons(entry, date.fromisoformat(rules["card_applied_by"]))
    return reasons


def _card_reasons(entry: ResidentFacts, deadline: date) -> list[Reason]:
    """The card-application deadline of マイナポイント第1弾 (令和3年4月末) and 第2弾 (令和5年2月末)."""
    if entry.card_applied_on is None:
        return [
            Reason(
                "card_application_unknown",
                "The municipality has no date of your My Number Card "
                f"application; this program is for cards applied for by {deadline:%Y-%m-%d}. Please ask it.",
            )
        ]
    if entry.card_applied_on > deadline:
        return [
            Reason(
                "card_applied_too_late",
                f"This program is for My Number Cards applied for by "
                f"{deadline:%Y-%m-%d}; yours was applied for on {entry.card_applied_on:%Y-%m-%d}.",
            )
        ]
    return []


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _age_reasons(program: PointTerms, entry: ResidentFacts, rules: dict[str, Any]) -> list[Reason]:
    if entry.birth_date is None:
        return [Reason("birth_date_unknown", "The municipality has no birth date for you; please ask it.")]
    reference = rules.get("age_reference_date")
    day = date.fromisoformat(reference) if reference else aware(program.opens_at).astimezone(JST).date()
    age = _age_on(entry.birth_date, day)
    if rules.get("min_age") is not None and age < rules["min_age"]:
        return [Reason("too_young", f"You must be at least {rules['min_age']} on {day:%Y-%m-%d}.")]
    if rules.get("max_age") is not None and age > rules["max_age"]:
        return [Reason("too_old", f"This program is for people aged {rules['max_age']} or under on {day:%Y-%m-%d}.")]
    return []


BUDGET_EXHAUSTED = Reason("budget_exhausted", "You are eligible, but this program's budget is used up.")
