"""ローカル10,000, 分散型エネルギー, 地域脱炭素の外部専門家, 自治体マイナポイントのシステム改修."""

from datetime import date, timedelta
from fractions import Fraction
from typing import Any, Literal

from common.errors import Unprocessable
from services.subsidy.calculators.base import Context, Flag, Inputs, IsoDate, Yen, cap_note, floor_note, floor_times
from services.subsidy.rulebook import decimal_text

LenderType = Literal[
    "regional_bank",
    "second_regional_bank",
    "shinkin_bank",
    "credit_cooperative",
    "jfc",
    "okinawa_dfc",
    "municipality_furusato_loan",
]


class Local10000Inputs(Inputs):
    initial_investment: Yen
    municipal_grant: Yen
    loan_amount: Yen
    own_funds: Yen = 0
    lender_type: LenderType
    digital: Flag = False
    decarbonization: Flag = False
    disadvantaged_area: Flag | None = None
    application_date: IsoDate | None = None


def _local10000_structure(ctx: Context, i: Local10000Inputs) -> None:
    funded = i.municipal_grant + i.loan_amount + i.own_funds
    if funded != i.initial_investment:
        ctx.ineligible(
            "funding_does_not_add_up",
            f"municipal_grant + loan_amount + own_funds = {funded:,} yen, "
            f"not the initial_investment of {i.initial_investment:,} yen",
        )
    if i.loan_amount < i.municipal_grant:
        ctx.ineligible(
            "loan_below_grant",
            f"the loan of {i.loan_amount:,} yen is below the municipal grant of "
            f"{i.municipal_grant:,} yen (融資は助成額以上)",
        )
    if 2 * i.municipal_grant > i.initial_investment:
        ctx.ineligible(
            "grant_above_half",
            "the municipal grant exceeds half of the initial investment (助成は最大で初期投資費用の1/2)",
        )
    ctx.step(
        "structure",
        "municipal_grant + loan_amount + own_funds == initial_investment; "
        "loan_amount >= municipal_grant; municipal_grant <= initial_investment / 2",
        inputs={
            "initial_investment": i.initial_investment,
            "municipal_grant": i.municipal_grant,
            "loan_amount": i.loan_amount,
            "own_funds": i.own_funds,
        },
        result=ctx.eligible,
        citation="「ローカル10,000プロジェクト」",
    )


def _local10000_rate(ctx: Context, i: Local10000Inputs) -> Fraction:
    candidates = {"default": ctx.p("default_rate")}
    used = ["default_rate"]
    if i.digital:
        candidates["digital"] = ctx.p("digital_rate")
        used.append("digital_rate")
    if i.decarbonization:
        candidates["decarbonization"] = ctx.p("decarbonization_rate")
        used.append("decarbonization_rate")
    disadvantaged = i.disadvantaged_area
    inputs: dict[str, Any] = {"digital": i.digital, "decarbonization": i.decarbonization}
    if disadvantaged is None:
        disadvantaged = bool(ctx.attribute("kaso"))
        inputs["disadvantaged_area"] = f"{disadvantaged} (default: the municipality's 過疎 status)"
    else:
        inputs["disadvantaged_area"] = disadvantaged
    if disadvantaged:
        fsi = ctx.attribute("fiscal_strength_index")
        inputs["fiscal_strength_index"] = decimal_text(fsi)
        used += ["weakest_fsi_threshold", "weak_fsi_threshold"]
        if fsi < ctx.p("weakest_fsi_threshold"):
            candidates["weak_fiscal_disadvantaged_area"] = ctx.p("weakest_area_rate")
            used.append("weakest_area_rate")
        elif fsi < ctx.p("weak_fsi_threshold"):
            candidates["weak_fiscal_disadvantaged_area"] = ctx.p("weak_area_rate")
            used.append("weak_area_rate")
    best: Fraction = max(candidates.values())
    ctx.step(
        "national_rate",
        "the highest of the rates that apply (default; digital; decarbonization; "
        "財政力の弱い条件不利地域 by 財政力指数)",
        params=tuple(used),
        inputs=inputs,
        result=str(best),
        notes=["rates that apply: " + ", ".join(f"{k} {v}" for k, v in candidates.items())],
    )
    return best


def _check_in_fiscal_year(ctx: Context, applied: date) -> None:
    """An application date outside the requested fiscal year is refused: its rules would not apply to it."""
    fiscal_year = ctx.params.fiscal_year
    first, last = date(fiscal_year, 4, 1), date(fiscal_year + 1, 3, 31)
    if not first <= applied <= last:
        raise Unprocessable(
            f"application_date {applied.isoformat()} is outside FY{fiscal_year} "
            f"({first.isoformat()} to {last.isoformat()}); ask for the fiscal year it falls in",
            field="inputs.application_date",
        )


def _application_schedule(ctx: Context, applied: date) -> dict[str, Any]:
    _check_in_fiscal_year(ctx, applied)
    day = ctx.p("application_deadline_day")
    deadline = (
        applied.replace(day=day)
        if applied.day <= day
        else (applied.replace(day=1) + timedelta(days=32)).replace(day=day)
    )
    decision = deadline + timedelta(days=ctx.p("decision_lag_days"))
    result = {"application_deadline": deadline.isoformat(), "expected_decision_month": decision.strftime("%Y-%m")}
    ctx.step(
        "schedule",
        "deadline = the next monthly deadline day on or after the application date; "
        "decision month = month of (deadline + decision lag)",
        params=("application_deadline_day", "decision_lag_days"),
        inputs={"application_date": applied.isoformat()},
        result=result,
    )
    return result


def local10000(ctx: Context, i: Local10000Inputs) -> tuple[int, dict[str, Any]]:
    accepted = ctx.p("accepted_lenders")
    if i.lender_type not in accepted:
        raise Unprocessable(
            f"lender_type {i.lender_type!r} is not accepted in FY{ctx.params.fiscal_year}; "
            f"accepted: {', '.join(accepted)}",
            field="inputs.lender_type",
        )
    ctx.step(
        "lender",
        "lender_type is one of the accepted lenders of the fiscal year",
        params=("accepted_lenders",),
        inputs={"lender_type": i.lender_type},
        result=True,
    )
    _local10000_structure(ctx, i)
    rate = _local10000_rate(ctx, i)
    grant = i.municipal_grant
    national, exact = floor_times(grant, rate)
    ctx.step(
        "national_share",
        "floor(municipal_grant × rate)",
        inputs={"municipal_grant": grant, "rate": str(rate)},
        result=national,
        notes=floor_note(exact),
        citation="「ローカル10,000プロジェクト」",
    )
    remaining = grant - national
    sat_share = ctx.p("special_allocation_tax_share")
    sat, exact = floor_times(remaining, sat_share)
    ctx.step(
        "special_allocation_tax",
        "floor((municipal_grant − national_share) × share) (残額の1/2を特別交付税)",
        params=("special_allocation_tax_share",),
        inputs={"remaining": remaining},
        result=sat,
        notes=floor_note(exact),
    )
    municipal_net = remaining - sat
    ctx.step(
        "municipal_net",
        "municipal_grant − national_share − special_allocation_tax",
        inputs={"municipal_grant": grant, "national_share": national, "special_allocation_tax": sat},
        result=municipal_net,
        citation="「ローカル10,000プロジェクト」",
    )
    breakdown = {
        "rate": str(rate),
        "national_share": national,
        "special_allocation_tax": sat,
        "municipal_net": municipal_net,
    }
    if i.application_date is not None:
        breakdown.update(_application_schedule(ctx, i.application_date))
    return national + sat, breakdown


class DistributedEnergyInputs(Inputs):
    plan_cost: Yen
    highly_novel: Flag = False


def distributed_energy(ctx: Context, i: DistributedEnergyInputs) -> tuple[int, dict[str, Any]]:
    used: tuple[str, ...]
    inputs: dict[str, Any]
    if i.highly_novel:
        rate, used, inputs = ctx.p("highly_novel_rate"), ("highly_novel_rate",), {"highly_novel": True}
    else:
        fsi = ctx.attribute("fiscal_strength_index")
        inputs = {"highly_novel": False, "fiscal_strength_index": decimal_text(fsi)}
        if fsi < ctx.p("weakest_fsi_threshold"):
            rate, used = ctx.p("weakest_rate"), ("weakest_fsi_threshold", "weakest_rate")
        elif fsi < ctx.p("weak_fsi_threshold"):
            rate, used = ctx.p("weak_rate"), ("weakest_fsi_threshold", "weak_fsi_threshold", "weak_rate")
        else:
            rate, used = ctx.p("default_rate"), ("weakest_fsi_threshold", "weak_fsi_threshold", "default_rate")
    ctx.step(
        "rate",
        "10/10 if highly novel; else by 財政力指数: < 0.25 → 3/4, < 0.5 → 2/3, otherwise 1/2",
        params=used,
        inputs=inputs,
        result=str(rate),
    )
    cap = ctx.p("cost_cap")
    eligible_cost = min(i.plan_cost, cap)
    ctx.step(
        "eligible_cost",
        "min(plan_cost, cap)",
        params=("cost_cap",),
        inputs={"plan_cost": i.plan_cost},
        result=eligible_cost,
        notes=cap_note(i.plan_cost, cap, "plan_cost"),
    )
    subsidy, exact = floor_times(eligible_cost, rate)
    ctx.step(
        "subsidy",
        "floor(eligible_cost × rate)",
        inputs={"eligible_cost": eligible_cost, "rate": str(rate)},
        result=subsidy,
        notes=floor_note(exact),
        citation="「分散型エネルギーインフラプロジェクト」",
    )
    return subsidy, {"rate": str(rate), "eligible_cost": eligible_cost, "subsidy": subsidy}


class DecarbonizationExpertsInputs(Inputs):
    honoraria: Yen = 0
    travel: Yen = 0
    other: Yen = 0


def decarbonization_experts(ctx: Context, i: DecarbonizationExpertsInputs) -> tuple[int, dict[str, Any]]:
    total = i.honoraria + i.travel + i.other
    cap = ctx.p("cost_cap")
    eligible_cost = min(total, cap)
    ctx.step(
        "eligible_cost",
        "min(honoraria + travel + other, cap)",
        params=("cost_cap",),
        inputs={"honoraria": i.honoraria, "travel": i.travel, "other": i.other},
        result=eligible_cost,
        notes=cap_note(total, cap, "the expert costs"),
    )
    subsidy, exact = floor_times(eligible_cost, ctx.p("rate"))
    ctx.step(
        "subsidy",
        "floor(eligible_cost × rate)",
        params=("rate",),
        inputs={"eligible_cost": eligible_cost},
        result=subsidy,
        notes=floor_note(exact),
    )
    return subsidy, {"eligible_cost": eligible_cost, "subsidy": subsidy}


class JichitaiMynapointSystemInputs(Inputs):
    cost: Yen
    applicant: Literal["municipality", "provider"] = "municipality"


def jichitai_mynapoint_system(ctx: Context, i: JichitaiMynapointSystemInputs) -> tuple[int, dict[str, Any]]:
    if i.applicant not in ctx.p("applicants"):
        ctx.ineligible("applicant_not_accepted", f"a {i.applicant} cannot apply in FY{ctx.params.fiscal_year}")
        return 0, {"subsidy": 0}
    subsidy, exact = floor_times(i.cost, ctx.p("rate"))
    ctx.step(
        "subsidy",
        "floor(cost × rate) (system modification, application support and PR costs)",
        params=("applicants", "rate"),
        inputs={"cost": i.cost, "applicant": i.applicant},
        result=subsidy,
        notes=floor_note(exact),
    )
    return subsidy, {"subsidy": subsidy}
