"""Eligibility predicates of 地域活性化起業人, 地域力創造アドバイザー and 地域プロジェクトマネージャー.

Pure functions, kept apart from the calculators so that they can be switched to the shared module the matching
service uses (one source of truth). Names and reason codes follow that module; here the dated limits are passed
in from this service's rules files. Each returns the reasons a party is NOT eligible, empty when it is.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


def company_reasons(company_in_three_metro_area: bool) -> list[Reason]:
    """The seconding company is in a 三大都市圏 (or has its head-office function there)."""
    if company_in_three_metro_area:
        return []
    return [Reason("company_outside_three_metro_area",
                   "the company is not in the 三大都市圏 and has no head-office function there")]


def host_municipality_reasons(in_three_metro_area: bool, has_disadvantaged_area: bool, in_teiju_jiritsuken: bool,
                              high_population_decline: bool) -> list[Reason]:
    """Outside the 三大都市圏; or inside with a 条件不利地域, in a 定住自立圏, or with high population decline."""
    if not in_three_metro_area or has_disadvantaged_area or in_teiju_jiritsuken or high_population_decline:
        return []
    return [Reason("host_in_three_metro_area",
                   "the municipality is in the 三大都市圏 and has no 条件不利地域, no 定住自立圏 and no high "
                   "population decline")]


def dispatch_period_reasons(months: int, min_months: int, max_months: int) -> list[Reason]:
    if min_months <= months <= max_months:
        return []
    return [Reason("dispatch_period_out_of_range",
                   f"a dispatch of {months} months is outside {min_months}–{max_months} months")]


def advisor_invitation_reasons(days: int, times: int, min_days: int, min_times: int) -> list[Reason]:
    if days >= min_days or times >= min_times:
        return []
    return [Reason("advisor_too_few_invitations",
                   f"{days} days and {times} invitations are fewer than {min_days} days or {min_times} times "
                   "in the fiscal year")]


def adviser_residence_reasons(adviser_lives_outside: bool) -> list[Reason]:
    if adviser_lives_outside:
        return []
    return [Reason("adviser_lives_in_host", "the adviser lives in the municipality; only experts living outside "
                   "the municipality count")]


def advisor_year_reasons(year_of_use: int, max_years: int) -> list[Reason]:
    if year_of_use <= max_years:
        return []
    return [Reason("advisor_years_exceeded", f"year {year_of_use} of use is past the limit of {max_years} years")]


def project_manager_year_reasons(year_of_service: int, max_years: int) -> list[Reason]:
    if year_of_service <= max_years:
        return []
    return [Reason("project_manager_years_exceeded",
                   f"year {year_of_service} of service is past the limit of {max_years} years per person")]


def project_manager_residence_reasons(moved_in: bool, local_exception: bool) -> list[Reason]:
    """A move of residence into a 条件不利地域, except local ex-協力隊 / ex-起業人."""
    if moved_in or local_exception:
        return []
    return [Reason("no_move_of_residence",
                   "no move of residence into a 条件不利地域, and not a local ex-協力隊 / ex-起業人")]
