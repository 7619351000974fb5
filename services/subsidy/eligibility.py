"""Eligibility predicates of 地域活性化起業人, 地域力創造アドバイザー and 地域プロジェクトマネージャー.

Pure functions, kept apart from the calculators so that they can be replaced by the shared module the matching
service uses (one source of truth). Each returns the reasons it fails, empty when it passes.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


def kigyojin_company_eligible(company_in_three_metro_areas: bool) -> list[Reason]:
    """The seconding company is in a 三大都市圏 (or has its head-office function there)."""
    if company_in_three_metro_areas:
        return []
    return [Reason("company_outside_three_metro_areas",
                   "the employee's company is not in the 三大都市圏 and has no head-office function there")]


def kigyojin_municipality_eligible(in_three_metro_areas: bool, has_disadvantaged_area: bool,
                                   in_teiju_jiritsuken: bool, high_population_decline: bool) -> list[Reason]:
    """Outside the 三大都市圏; or inside with a 条件不利地域, in a 定住自立圏, or with high population decline."""
    if not in_three_metro_areas or has_disadvantaged_area or in_teiju_jiritsuken or high_population_decline:
        return []
    return [Reason("municipality_in_three_metro_areas",
                   "the municipality is in the 三大都市圏 and has no 条件不利地域, is not in a 定住自立圏 "
                   "and has no high rate of population decline")]


def dispatch_period_ok(months: int, min_months: int, max_months: int) -> list[Reason]:
    if min_months <= months <= max_months:
        return []
    return [Reason("dispatch_period", f"dispatch period of {months} months is outside {min_months}–{max_months} months")]


def advisor_invitation_ok(days: int, times: int, min_days: int, min_times: int) -> list[Reason]:
    if days >= min_days or times >= min_times:
        return []
    return [Reason("too_few_invitations",
                   f"invited {days} days and {times} times; at least {min_days} days or {min_times} times are needed")]


def advisor_residence_ok(lives_outside: bool) -> list[Reason]:
    return [] if lives_outside else [Reason("adviser_lives_inside", "the adviser lives in the municipality")]


def years_of_use_ok(year: int, max_years: int, what: str) -> list[Reason]:
    if 1 <= year <= max_years:
        return []
    return [Reason("too_many_years", f"{what} year {year} is beyond the {max_years} years allowed")]


def project_manager_residence_ok(moved_in: bool, local_exception: bool) -> list[Reason]:
    """A move of residence into a 条件不利地域, except local ex-協力隊 / ex-起業人."""
    if moved_in or local_exception:
        return []
    return [Reason("no_move_of_residence",
                   "no move of residence into a 条件不利地域, and not a local ex-協力隊 / ex-起業人")]
