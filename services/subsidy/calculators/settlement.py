"""地域おこし協力隊, 移住・定住対策, ふるさとワーキングホリデー, お試しサテライトオフィス."""

from fractions import Fraction
from typing import Any

from pydantic import Field, model_validator

from services.subsidy.calculators.base import (
    Context,
    Count,
    Flag,
    FractionText,
    InputRelationError,
    Inputs,
    Yen,
    cap_note,
    floor_note,
    floor_times,
)
from services.subsidy.rulebook import decimal_text


class Member(Inputs):
    reward_cost: Yen = 0
    other_cost: Yen = 0
    reward_flex: Flag = False


class Startup(Inputs):
    cost: Yen
    service_year: int | None = Field(default=None, ge=1, le=3, strict=True)
    years_after_term: int | None = Field(default=None, ge=0, le=10, strict=True)
    term_years: int = Field(
        default=3,
        ge=1,
        le=3,
        strict=True,
        description="length of the member's term (1–3 years); FY2022 counts start-up costs from its final year",
    )

    @model_validator(mode="after")
    def _when(self) -> "Startup":
        if self.service_year is None and not self.years_after_term:
            raise InputRelationError(
                "service_year", "give service_year (1–3) while serving, or years_after_term (1 = first year after)"
            )
        if self.service_year is not None and self.service_year > self.term_years:
            raise InputRelationError(
                "service_year", f"service_year {self.service_year} is after the end of a {self.term_years}-year term"
            )
        return self


class ChiikiOkoshiInputs(Inputs):
    recruitment_cost: Yen = 0
    trial_cost: Yen = 0
    intern_program_cost: Yen = 0
    intern_activity_cost: Yen = 0
    intern_person_days: Count = 0
    members: list[Member] = Field(default_factory=list, max_length=1000)
    support_cost: Yen = 0
    startups: list[Startup] = Field(default_factory=list, max_length=1000)
    vacant_house_cost: Yen = 0


def _capped_line(ctx: Context, rule: str, cost: int, param: str, what: str) -> int:
    cap: int = ctx.p(param)
    allowance = min(cost, cap)
    ctx.step(
        rule,
        f"min({what}, cap)",
        params=(param,),
        inputs={what: cost},
        result=allowance,
        notes=cap_note(cost, cap, what),
    )
    return allowance


def _member_activity(ctx: Context, index: int, member: Member) -> int:
    reward_param = "reward_flex_cap" if member.reward_flex else "reward_cap"
    reward_cap: int = ctx.p(reward_param)
    other_cap: int = ctx.p("other_cost_cap")
    reward, other = min(member.reward_cost, reward_cap), min(member.other_cost, other_cap)
    total_cap: int = ctx.p("member_total_cap")
    allowance = min(reward + other, total_cap)
    notes = (
        cap_note(member.reward_cost, ctx.p(reward_param), "reward_cost")
        + cap_note(member.other_cost, ctx.p("other_cost_cap"), "other_cost")
        + cap_note(reward + other, total_cap, "the member total")
    )
    ctx.step(
        f"activity[{index}]",
        "min(min(reward_cost, reward cap) + min(other_cost, other cap), member total cap)",
        params=(reward_param, "other_cost_cap", "member_total_cap"),
        inputs=member.model_dump(),
        result=allowance,
        notes=notes,
    )
    return allowance


def _startup_first_year(ctx: Context, startup: Startup) -> int:
    """The first service year that counts: a fixed year, or (null) the final year of the member's own term."""
    first_year = ctx.p("startup_first_service_year")
    return startup.term_years if first_year is None else int(first_year)


def _startup_in_window(ctx: Context, startup: Startup) -> bool:
    if startup.years_after_term:
        return bool(startup.years_after_term <= ctx.p("startup_years_after_term"))
    return startup.service_year is not None and startup.service_year >= _startup_first_year(ctx, startup)


def _startup(ctx: Context, index: int, startup: Startup) -> int:
    in_window = _startup_in_window(ctx, startup)
    cap = ctx.p("startup_cap")
    allowance = min(startup.cost, cap) if in_window else 0
    ctx.step(
        f"startup[{index}]",
        "min(cost, cap) when within the window (from the first service year counted, "
        "or the final year of the term where the rule says so, until the years after the term), else 0",
        params=("startup_first_service_year", "startup_years_after_term", "startup_cap"),
        inputs=startup.model_dump(exclude_none=True),
        result=allowance,
        notes=cap_note(startup.cost, cap, "cost") if in_window else ["outside the start-up window"],
    )
    if not in_window:
        ctx.note(
            "startup_outside_window",
            f"startups[{index}]: outside the start-up window of "
            f"FY{ctx.params.fiscal_year} (from service year {_startup_first_year(ctx, startup)} of a "
            f"{startup.term_years}-year term until {ctx.p('startup_years_after_term')} year(s) after the term)",
        )
    return allowance


def _support(ctx: Context, cost: int) -> int:
    if ctx.p("support_cap") is None:
        ctx.step(
            "support", "not in force this fiscal year", params=("support_cap",), inputs={"support_cost": cost}, result=0
        )
        if cost:
            ctx.note(
                "support_not_in_force", f"日々のサポート is not covered in FY{ctx.params.fiscal_year} (new in FY2023)"
            )
        return 0
    return _capped_line(ctx, "support", cost, "support_cap", "support_cost")


def chiiki_okoshi(ctx: Context, i: ChiikiOkoshiInputs) -> tuple[int, dict[str, Any]]:
    recruitment = _capped_line(ctx, "recruitment", i.recruitment_cost, "recruitment_cap", "recruitment_cost")
    trial = _capped_line(ctx, "trial", i.trial_cost, "trial_cap", "trial_cost")
    intern_program = min(i.intern_program_cost, ctx.p("intern_program_cap"))
    activity_cap = ctx.p("intern_activity_cap_per_person_day") * i.intern_person_days
    intern = intern_program + min(i.intern_activity_cost, activity_cap)
    ctx.step(
        "intern",
        "min(intern_program_cost, program cap) + min(intern_activity_cost, per person-day cap × intern_person_days)",
        params=("intern_program_cap", "intern_activity_cap_per_person_day"),
        inputs={
            "intern_program_cost": i.intern_program_cost,
            "intern_activity_cost": i.intern_activity_cost,
            "intern_person_days": i.intern_person_days,
        },
        result=intern,
        notes=cap_note(i.intern_program_cost, ctx.p("intern_program_cap"), "intern_program_cost")
        + cap_note(i.intern_activity_cost, activity_cap, "intern_activity_cost"),
    )
    activity = sum(_member_activity(ctx, n, member) for n, member in enumerate(i.members))
    support = _support(ctx, i.support_cost)
    startup = sum(_startup(ctx, n, s) for n, s in enumerate(i.startups))
    vacant_house, exact = floor_times(i.vacant_house_cost, ctx.p("vacant_house_rate"))
    ctx.step(
        "vacant_house",
        "floor(vacant_house_cost × 措置率)",
        params=("vacant_house_rate",),
        inputs={"vacant_house_cost": i.vacant_house_cost},
        result=vacant_house,
        notes=floor_note(exact),
    )
    lines = {
        "recruitment": recruitment,
        "trial": trial,
        "intern": intern,
        "activity": activity,
        "support": support,
        "startup": startup,
        "vacant_house": vacant_house,
    }
    total = sum(lines.values())
    ctx.step("total", "sum of the lines", inputs=dict(lines), result=total, citation="「地域おこし協力隊について」")
    if total == 0 and ctx.reasons:
        ctx.eligible = False
    return total, {**lines, "total": total}


class Coordinator(Inputs):
    cost: Yen
    concurrent: Flag = False


class IjuTeijuInputs(Inputs):
    measures_cost: Yen = 0
    fiscal_correction: FractionText = Fraction(1)
    coordinators: list[Coordinator] = Field(default_factory=list, max_length=1000)


def iju_teiju(ctx: Context, i: IjuTeijuInputs) -> tuple[int, dict[str, Any]]:
    measures, exact = floor_times(i.measures_cost, ctx.p("measures_rate") * i.fiscal_correction)
    ctx.step(
        "measures",
        "floor(measures_cost × 措置率 × fiscal_correction)",
        params=("measures_rate",),
        inputs={"measures_cost": i.measures_cost, "fiscal_correction": decimal_text(i.fiscal_correction)},
        result=measures,
        notes=floor_note(exact) + ["財政力補正 is not in the seed: fiscal_correction is an input (default 1)"],
    )
    coordinators = 0
    for n, person in enumerate(i.coordinators):
        param = "concurrent_coordinator_cap" if person.concurrent else "coordinator_cap"
        allowance = min(person.cost, ctx.p(param))
        ctx.step(
            f"coordinators[{n}]",
            "min(cost, cap per person; the concurrent-post cap when 兼任)",
            params=(param,),
            inputs=person.model_dump(),
            result=allowance,
            notes=cap_note(person.cost, ctx.p(param), "cost"),
        )
        coordinators += allowance
    total = measures + coordinators
    ctx.step(
        "total",
        "measures + coordinators",
        inputs={"measures": measures, "coordinators": coordinators},
        result=total,
        citation="「地方自治体が実施する移住・定住対策」",
    )
    return total, {"measures": measures, "coordinators": coordinators, "total": total}


class FurusatoWorkholiInputs(Inputs):
    cost: Yen
    total_stay_days: Count = 0


def furusato_workholi(ctx: Context, i: FurusatoWorkholiInputs) -> tuple[int, dict[str, Any]]:
    cap = ctx.p("base_cap") + ctx.p("per_stay_day") * i.total_stay_days
    ctx.step(
        "cap",
        "base cap + per-day amount × total_stay_days",
        params=("base_cap", "per_stay_day"),
        inputs={"total_stay_days": i.total_stay_days},
        result=cap,
    )
    allowance = min(i.cost, cap)
    ctx.step(
        "allowance",
        "min(cost, cap)",
        inputs={"cost": i.cost, "cap": cap},
        result=allowance,
        notes=cap_note(i.cost, cap, "cost"),
        citation="「ふるさとワーキングホリデーの概要」",
    )
    return allowance, {"cap": cap, "allowance": allowance}


class TrialSatelliteOfficeInputs(Inputs):
    cost: Yen
    hardware_cost: Yen = 0
    fiscal_correction: FractionText = Fraction(1)

    @model_validator(mode="after")
    def _hardware_within_cost(self) -> "TrialSatelliteOfficeInputs":
        if self.hardware_cost > self.cost:
            raise InputRelationError("hardware_cost", "hardware_cost is part of cost and cannot exceed it")
        return self


def trial_satellite_office(ctx: Context, i: TrialSatelliteOfficeInputs) -> tuple[int, dict[str, Any]]:
    base = i.cost - i.hardware_cost
    cap = ctx.p("cost_cap")
    eligible_cost = min(base, cap)
    ctx.step(
        "eligible_cost",
        "min(cost − hardware_cost, cap) (hardware works are excluded)",
        params=("cost_cap",),
        inputs={"cost": i.cost, "hardware_cost": i.hardware_cost},
        result=eligible_cost,
        notes=cap_note(base, cap, "the cost without hardware"),
    )
    allowance, exact = floor_times(eligible_cost, ctx.p("rate") * i.fiscal_correction)
    ctx.step(
        "allowance",
        "floor(eligible_cost × 措置率 × fiscal_correction)",
        params=("rate",),
        inputs={"eligible_cost": eligible_cost, "fiscal_correction": decimal_text(i.fiscal_correction)},
        result=allowance,
        notes=floor_note(exact),
    )
    return allowance, {"eligible_cost": eligible_cost, "allowance": allowance}


class ObogNetworkInputs(Inputs):
    startup_cost: Yen


def okoshi_obog_network(ctx: Context, i: ObogNetworkInputs) -> tuple[int, dict[str, Any]]:
    if ctx.p("prefectures_only"):
        prefecture = bool(ctx.attribute("is_prefecture"))
        ctx.step(
            "applicant",
            "the applicant is a prefecture (都道府県ＯＢ・ＯＧネットワーク)",
            params=("prefectures_only",),
            inputs={"is_prefecture": prefecture},
            result=prefecture,
        )
        if not prefecture:
            ctx.ineligible(
                "not_a_prefecture",
                "the OB・OG network start-up support goes to a prefecture; give the "
                "municipality_code of a prefecture (e.g. 010006)",
            )
            return 0, {"allowance": 0}
    allowance = _capped_line(ctx, "allowance", i.startup_cost, "startup_cap", "startup_cost")
    return allowance, {"allowance": allowance}
