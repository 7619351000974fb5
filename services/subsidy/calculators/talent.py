"""地域活性化起業人, 地域力創造アドバイザー, 地域プロジェクトマネージャー, デジタル人材."""

from typing import Any, Literal

from pydantic import Field

from common import eligibility
from services.subsidy.calculators.base import Context, Count, Flag, Inputs, Yen, cap_note, floor_note, floor_times


class MunicipalityConditions(Inputs):
    has_disadvantaged_area: Flag | None = None
    in_teiju_jiritsuken: Flag = False
    high_population_decline: Flag = False


def _municipality_eligible(ctx: Context, i: MunicipalityConditions, citation: str) -> bool:
    in_metro = bool(ctx.attribute("in_three_metro_areas"))
    disadvantaged = i.has_disadvantaged_area
    shown: bool | str | None = disadvantaged
    if disadvantaged is None:  # the 過疎 status matters only when nothing else qualifies the municipality
        other_ground = not in_metro or i.in_teiju_jiritsuken or i.high_population_decline
        disadvantaged = False if other_ground else bool(ctx.attribute("kaso"))
        shown = f"{disadvantaged} (default: the municipality's 過疎 status)"
    host = eligibility.HostFacts(
        code="",
        name="the municipality",
        in_three_metro_area=in_metro,
        has_disadvantaged_area=disadvantaged,
        in_teiju_jiritsuken=i.in_teiju_jiritsuken,
        high_population_decline=i.high_population_decline,
    )
    failures = eligibility.host_municipality_reasons(host)
    ctx.step(
        "municipality_eligible",
        "outside the 三大都市圏, or inside it with a 条件不利地域, in a 定住自立圏, "
        "or with a high rate of population decline",
        inputs={
            "in_three_metro_areas": in_metro,
            "has_disadvantaged_area": shown,
            "in_teiju_jiritsuken": i.in_teiju_jiritsuken,
            "high_population_decline": i.high_population_decline,
        },
        result=not failures,
        citation=citation,
    )
    for reason in failures:
        ctx.ineligible(reason.code, reason.message)
    return not failures


class KigyojinPerson(Inputs):
    acceptance_cost: Yen = 0
    proposal_cost: Yen = 0
    dispatch_months: int = Field(ge=0, le=600, strict=True)


class KigyojinInputs(MunicipalityConditions):
    persons: list[KigyojinPerson] = Field(default_factory=list, max_length=1000)
    preparation_cost: Yen = 0
    company_in_three_metro_areas: Flag = False


def _kigyojin_person(ctx: Context, n: int, person: KigyojinPerson) -> tuple[int, int] | None:
    """(acceptance, proposal) of an eligible person, None when the dispatch period is outside the limits."""
    failures = eligibility.dispatch_months_reasons(
        person.dispatch_months, ctx.p("min_dispatch_months"), ctx.p("max_dispatch_months")
    )
    if failures:
        ctx.step(
            f"persons[{n}]",
            "dispatch period within the limits",
            params=("min_dispatch_months", "max_dispatch_months"),
            inputs=person.model_dump(),
            result=0,
            notes=[failures[0].message],
        )
        ctx.note(failures[0].code, f"persons[{n}]: {failures[0].message}")
        return None
    acceptance = min(person.acceptance_cost, ctx.p("acceptance_cap"))
    proposal, exact = floor_times(min(person.proposal_cost, ctx.p("proposal_cap")), ctx.p("proposal_rate"))
    ctx.step(
        f"persons[{n}]",
        "acceptance = min(acceptance_cost, cap); proposal = floor(min(proposal_cost, cap) × 措置率)",
        params=("min_dispatch_months", "max_dispatch_months", "acceptance_cap", "proposal_cap", "proposal_rate"),
        inputs=person.model_dump(),
        result={"acceptance": acceptance, "proposal": proposal},
        notes=cap_note(person.acceptance_cost, ctx.p("acceptance_cap"), "acceptance_cost")
        + cap_note(person.proposal_cost, ctx.p("proposal_cap"), "proposal_cost")
        + floor_note(exact),
    )
    return acceptance, proposal


def kigyojin(ctx: Context, i: KigyojinInputs) -> tuple[int, dict[str, Any]]:
    zero = {"acceptance": 0, "proposal": 0, "preparation": 0, "total": 0}
    company_failures = eligibility.company_reasons(i.company_in_three_metro_areas)
    ctx.step(
        "company_eligible",
        "the employee's company is in the 三大都市圏 (or has its head-office function there)",
        inputs={"company_in_three_metro_areas": i.company_in_three_metro_areas},
        result=not company_failures,
        citation="「地域活性化起業人」",
    )
    for reason in company_failures:
        ctx.ineligible(reason.code, reason.message)
    if not _municipality_eligible(ctx, i, "「地域活性化起業人」") or company_failures:
        return 0, zero
    shares = [share for n, person in enumerate(i.persons) if (share := _kigyojin_person(ctx, n, person))]
    if i.persons and not shares:
        ctx.eligible = False
        return 0, zero
    acceptance, proposal = sum(a for a, _ in shares), sum(p for _, p in shares)
    preparation, exact = floor_times(min(i.preparation_cost, ctx.p("preparation_cap")), ctx.p("preparation_rate"))
    ctx.step(
        "preparation",
        "floor(min(preparation_cost, cap) × 措置率)",
        params=("preparation_cap", "preparation_rate"),
        inputs={"preparation_cost": i.preparation_cost},
        result=preparation,
        notes=cap_note(i.preparation_cost, ctx.p("preparation_cap"), "preparation_cost") + floor_note(exact),
    )
    total = acceptance + proposal + preparation
    ctx.step(
        "total",
        "acceptance + proposal + preparation",
        inputs={"acceptance": acceptance, "proposal": proposal, "preparation": preparation},
        result=total,
        citation="「地域活性化起業人」",
    )
    return total, {"acceptance": acceptance, "proposal": proposal, "preparation": preparation, "total": total}


class AdvisorInputs(MunicipalityConditions):
    adviser_type: Literal["private_expert", "municipal_staff"]
    cost: Yen
    invitation_days: Count = 0
    invitation_times: Count = 0
    adviser_lives_outside: Flag = False
    year_of_use: int = Field(default=1, ge=1, le=100, strict=True)


def advisor(ctx: Context, i: AdvisorInputs) -> tuple[int, dict[str, Any]]:
    cap_param = "private_expert_cap" if i.adviser_type == "private_expert" else "municipal_staff_cap"
    cap = ctx.p(cap_param)
    failures = (
        eligibility.advisor_invitation_reasons(
            i.invitation_days, i.invitation_times, ctx.p("min_invitation_days"), ctx.p("min_invitation_times")
        )
        + eligibility.adviser_outside_reasons(i.adviser_lives_outside)
        + eligibility.advisor_year_reasons(i.year_of_use, ctx.p("max_years"))
    )
    ctx.step(
        "conditions",
        "invited ≥ min days or ≥ min times; the adviser lives outside; year of use ≤ max years",
        params=("min_invitation_days", "min_invitation_times", "max_years"),
        inputs={
            "invitation_days": i.invitation_days,
            "invitation_times": i.invitation_times,
            "adviser_lives_outside": i.adviser_lives_outside,
            "year_of_use": i.year_of_use,
        },
        result=not failures,
        notes=[f.message for f in failures],
    )
    for reason in failures:
        ctx.ineligible(reason.code, reason.message)
    if not _municipality_eligible(ctx, i, "「外部専門家（地域力創造アドバイザー）制度」") or failures:
        return 0, {"cap": cap, "allowance": 0}
    allowance = min(i.cost, cap)
    ctx.step(
        "allowance",
        "min(cost, cap for the adviser type)",
        params=(cap_param,),
        inputs={"adviser_type": i.adviser_type, "cost": i.cost},
        result=allowance,
        notes=cap_note(i.cost, cap, "cost"),
    )
    return allowance, {"cap": cap, "allowance": allowance}


class ProjectManager(Inputs):
    cost: Yen
    year_of_service: int = Field(default=1, ge=1, le=100, strict=True)
    moved_in: Flag = False
    local_exception: Flag = False


class ProjectManagerInputs(Inputs):
    persons: list[ProjectManager] = Field(min_length=1, max_length=1000)


def project_manager(ctx: Context, i: ProjectManagerInputs) -> tuple[int, dict[str, Any]]:
    cap, max_persons = ctx.p("per_person_cap"), ctx.p("max_persons")
    per_person, counted = [], 0
    for n, person in enumerate(i.persons):
        failures = eligibility.project_manager_year_reasons(
            person.year_of_service, ctx.p("max_years")
        ) + eligibility.project_manager_residence_reasons(person.moved_in, person.local_exception)
        if not failures and counted >= max_persons:
            failures = [
                eligibility.Reason(
                    "over_person_limit", f"only the first {max_persons} eligible persons per municipality count"
                )
            ]
        allowance = 0 if failures else min(person.cost, cap)
        counted += 0 if failures else 1
        ctx.step(
            f"persons[{n}]",
            "min(cost, cap) for an eligible person among the first max_persons",
            params=("per_person_cap", "max_persons", "max_years"),
            inputs=person.model_dump(),
            result=allowance,
            notes=[f.message for f in failures] or cap_note(person.cost, cap, "cost"),
        )
        for reason in failures:
            ctx.note(reason.code, f"persons[{n}]: {reason.message}")
        per_person.append(allowance)
    total = sum(per_person)
    ctx.step(
        "total",
        "sum over persons",
        inputs={"per_person": per_person},
        result=total,
        citation="「地域プロジェクトマネージャー」",
    )
    if counted == 0:
        ctx.eligible = False
    return total, {"per_person": per_person, "total": total}


class DigitalTalentInputs(Inputs):
    cost: Yen
    kind: Literal["prefecture_support_staff", "dx_leader_training", "cio_adviser"]


def digital_talent(ctx: Context, i: DigitalTalentInputs) -> tuple[int, dict[str, Any]]:
    param = f"{i.kind}_rate"
    rate = ctx.p(param)
    if rate is None:
        ctx.step(
            "rate",
            "措置率 for the kind of expense in this fiscal year",
            params=(param,),
            inputs={"kind": i.kind},
            result=None,
            notes=["not in force this fiscal year"],
        )
        ctx.ineligible(
            "not_in_force",
            f"{i.kind} is not covered in FY{ctx.params.fiscal_year} "
            "(the measure runs FY2023–FY2025; CIO補佐官等 also in FY2022)",
        )
        return 0, {"rate": None, "allowance": 0}
    allowance, exact = floor_times(i.cost, rate)
    ctx.step(
        "allowance",
        "floor(cost × 措置率)",
        params=(param,),
        inputs={"cost": i.cost, "kind": i.kind},
        result=allowance,
        notes=floor_note(exact),
    )
    return allowance, {"rate": str(rate), "allowance": allowance}
