"""定住自立圏, 過疎地域持続的発展支援交付金, 特定地域づくり事業協同組合."""

from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from common.errors import Unprocessable
from common.money import split
from services.subsidy.calculators.base import (
    Context,
    Flag,
    FractionText,
    Inputs,
    Yen,
    cap_note,
    floor_note,
    floor_times,
)
from services.subsidy.rulebook import decimal_text


class TeijuJiritsukenInputs(Inputs):
    role: Literal["central_city", "neighbour"]
    day_night_ratio: FractionText | None = None


def teiju_jiritsuken(ctx: Context, i: TeijuJiritsukenInputs) -> tuple[int, dict[str, Any]]:
    if i.role == "neighbour":
        allowance = ctx.p("neighbour_allowance")
        ctx.step(
            "allowance",
            "package measure for a neighbouring municipality",
            params=("neighbour_allowance",),
            inputs={"role": i.role},
            result=allowance,
        )
        return allowance, {"checks": [], "allowance": allowance}
    if i.day_night_ratio is None:
        raise Unprocessable(
            'a central city needs day_night_ratio (昼夜間人口比率, e.g. "1.02")', field="inputs.day_night_ratio"
        )
    population, in_metro = ctx.attribute("population"), bool(ctx.attribute("in_three_metro_areas"))
    min_population, min_ratio = ctx.p("central_city_min_population"), ctx.p("central_city_min_day_night_ratio")
    checks = [
        {
            "check": "population",
            "value": population,
            "threshold": min_population,
            "passed": population >= min_population,
        },
        {
            "check": "day_night_ratio",
            "value": decimal_text(i.day_night_ratio),
            "threshold": decimal_text(min_ratio),
            "passed": i.day_night_ratio >= min_ratio,
        },
    ]
    if ctx.p("central_city_outside_three_metro_areas"):
        checks.append(
            {"check": "outside_three_metro_areas", "value": not in_metro, "threshold": True, "passed": not in_metro}
        )
    passed = all(check["passed"] for check in checks)
    ctx.step(
        "central_city_checks",
        "population ≥ minimum; day/night population ratio ≥ minimum; outside the 三大都市圏 (in principle)",
        params=(
            "central_city_min_population",
            "central_city_min_day_night_ratio",
            "central_city_outside_three_metro_areas",
        ),
        inputs={
            "population": population,
            "day_night_ratio": decimal_text(i.day_night_ratio),
            "in_three_metro_areas": in_metro,
        },
        result=passed,
    )
    for check in checks:
        if not check["passed"]:
            ctx.ineligible(
                f"central_city_{check['check']}",
                f"central-city requirement not met: {check['check']} is {check['value']}, "
                f"requirement {check['threshold']}",
            )
    allowance = ctx.p("central_city_allowance") if passed else 0
    ctx.step(
        "allowance",
        "package measure for the central city when every check passes",
        params=("central_city_allowance",),
        inputs={"checks_passed": passed},
        result=allowance,
    )
    return allowance, {"checks": checks, "allowance": allowance}


class KasoGrantsInputs(Inputs):
    component: Literal["network", "sustainable_development", "settlement_reorganization", "idle_facility"]
    cost: Yen
    with_specialists: Flag = False
    with_ict: Flag = False
    applicant: Literal["municipality", "prefecture"] = "municipality"
    prefecture_rate: str | None = Field(default=None, max_length=10)


def _network_cap(ctx: Context, i: KasoGrantsInputs) -> int:
    addition = (
        "network_both_addition"
        if i.with_specialists and i.with_ict
        else "network_specialists_addition"
        if i.with_specialists
        else "network_ict_addition"
        if i.with_ict
        else None
    )
    cap: int = ctx.p("network_cap") + (ctx.p(addition) if addition else 0)
    ctx.step(
        "cap",
        "base cap + the addition for specialists, ICT or both",
        params=("network_cap",) + ((addition,) if addition else ()),
        inputs={"with_specialists": i.with_specialists, "with_ict": i.with_ict},
        result=cap,
    )
    return cap


def _sustainable_development(ctx: Context, i: KasoGrantsInputs) -> tuple[int, int]:
    cap = ctx.p("sustainable_development_cap")
    eligible = min(i.cost, cap)
    notes = cap_note(i.cost, cap, "cost")
    if i.applicant == "municipality":
        ctx.step(
            "grant",
            "fixed amount (定額) = min(cost, limit)",
            params=("sustainable_development_cap",),
            inputs={"cost": i.cost, "applicant": i.applicant},
            result=eligible,
            notes=notes,
        )
        return cap, eligible
    if i.prefecture_rate is None or i.prefecture_rate not in ctx.p("prefecture_rates"):
        raise Unprocessable(
            f"a prefecture needs prefecture_rate, one of {', '.join(ctx.p('prefecture_rates'))}",
            field="inputs.prefecture_rate",
        )
    grant, exact = floor_times(eligible, Fraction(i.prefecture_rate))
    ctx.step(
        "grant",
        "floor(min(cost, limit) × prefecture_rate)",
        params=("sustainable_development_cap", "prefecture_rates"),
        inputs={"cost": i.cost, "applicant": i.applicant, "prefecture_rate": i.prefecture_rate},
        result=grant,
        notes=notes + floor_note(exact),
    )
    return cap, grant


KASO_ONLY_COMPONENTS = ("sustainable_development", "settlement_reorganization", "idle_facility")


def _kaso_applicant(ctx: Context, i: KasoGrantsInputs) -> bool:
    """集落再編, 遊休施設再活用 and 持続的発展支援 go to 過疎市町村; a prefecture applies at its own rates."""
    if i.component not in KASO_ONLY_COMPONENTS or i.applicant == "prefecture":
        return True
    kaso = bool(ctx.attribute("kaso"))
    ctx.step(
        "kaso",
        "a municipality receives this component only when it is 過疎",
        inputs={"kaso": kaso, "component": i.component},
        result=kaso,
        citation="「過疎地域持続的発展支援交付金」",
    )
    if not kaso:
        ctx.ineligible(
            "not_kaso", f"the {i.component} component is granted to 過疎市町村; this municipality is not 過疎"
        )
    return kaso


def kaso_grants(ctx: Context, i: KasoGrantsInputs) -> tuple[int, dict[str, Any]]:
    if not _kaso_applicant(ctx, i):
        return 0, {"cap": None, "grant": 0}
    cap: int | None
    if i.component == "network":
        cap = _network_cap(ctx, i)
        grant = min(i.cost, cap)
        ctx.step(
            "grant",
            "min(cost, cap) (定額)",
            inputs={"cost": i.cost, "cap": cap},
            result=grant,
            notes=cap_note(i.cost, cap, "cost"),
            citation="「過疎地域持続的発展支援交付金」",
        )
    elif i.component == "sustainable_development":
        cap, grant = _sustainable_development(ctx, i)
    else:
        param = f"{i.component}_rate"
        cap = None
        grant, exact = floor_times(i.cost, ctx.p(param))
        ctx.step(
            "grant",
            "floor(cost × 補助率)",
            params=(param,),
            inputs={"cost": i.cost},
            result=grant,
            notes=floor_note(exact),
        )
    return grant, {"cap": cap, "grant": grant}


class TokuteiKumiaiInputs(Inputs):
    operating_cost: Yen


def tokutei_kumiai(ctx: Context, i: TokuteiKumiaiInputs) -> tuple[int, dict[str, Any]]:
    shares = [ctx.p("user_fee_share"), ctx.p("national_grant_share"), ctx.p("special_allocation_tax_share")]
    municipal_share = 1 - sum(shares)
    if municipal_share < 0:
        raise Unprocessable("the shares add up to more than the whole operating cost", field="overrides")
    user_fees, national, sat, municipal_net = split(i.operating_cost, shares + [municipal_share])
    ctx.step(
        "split",
        "each share = floor(operating_cost × share); the municipal net takes the remainder, so the "
        "shares sum to the operating cost",
        params=("user_fee_share", "national_grant_share", "special_allocation_tax_share"),
        inputs={"operating_cost": i.operating_cost},
        result={
            "user_fees": user_fees,
            "national_grant": national,
            "special_allocation_tax": sat,
            "municipal_net": municipal_net,
        },
    )
    return national + sat, {
        "user_fees": user_fees,
        "national_grant": national,
        "special_allocation_tax": sat,
        "municipal_net": municipal_net,
    }
