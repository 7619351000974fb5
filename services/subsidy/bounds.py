"""The most a program can pay a municipality when some inputs are still unknown, where its rules bound it.

Each bound reads the parameters, the municipality's attributes and the inputs given so far (raw, possibly
partial), and answers `Bound(max_amount, reasons)`: `max_amount` None when the amount grows without limit with an
input (a cost without a cap, a number of members), and 0 with reasons when the attributes alone exclude the
municipality. A bound is never below the amount of any completion of the given inputs (tests/subsidy check it).
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from common.eligibility import advisor_year_reasons
from services.subsidy.calculators.base import Context

Raw = dict[str, Any]


@dataclass(frozen=True)
class Bound:
    max_amount: int | None
    reasons: list[dict[str, str]] = field(default_factory=list)


UNBOUNDED = Bound(None)


def _floor(value: Fraction | int) -> int:
    return int(Fraction(value).numerator // Fraction(value).denominator)


def _attribute(ctx: Context, name: str) -> Any:
    found = ctx.attributes.get(name)
    return None if found is None else found.value


def _given_int(given: Raw, name: str) -> int | None:
    value = given.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _distributed_energy(ctx: Context, given: Raw) -> Bound:
    fsi = _attribute(ctx, "fiscal_strength_index")
    if fsi is None:
        by_fsi = max(ctx.p("weakest_rate"), ctx.p("weak_rate"), ctx.p("default_rate"))
    else:
        by_fsi = (
            ctx.p("weakest_rate")
            if fsi < ctx.p("weakest_fsi_threshold")
            else ctx.p("weak_rate")
            if fsi < ctx.p("weak_fsi_threshold")
            else ctx.p("default_rate")
        )
    novel = given.get("highly_novel")
    rate = (
        ctx.p("highly_novel_rate")
        if novel is True
        else by_fsi
        if novel is False
        else max(by_fsi, ctx.p("highly_novel_rate"))
    )
    cost = _given_int(given, "plan_cost")
    return Bound(_floor(min(ctx.p("cost_cap"), cost if cost is not None else ctx.p("cost_cap")) * rate))


def _decarbonization_experts(ctx: Context, given: Raw) -> Bound:
    return Bound(_floor(ctx.p("cost_cap") * ctx.p("rate")))


def _okoshi_obog_network(ctx: Context, given: Raw) -> Bound:
    if ctx.p("prefectures_only") and _attribute(ctx, "is_prefecture") is False:
        return Bound(
            0, [{"code": "not_a_prefecture", "message": "the OB・OG network start-up support goes to a prefecture"}]
        )
    return Bound(ctx.p("startup_cap"))


def _furusato_workholi(ctx: Context, given: Raw) -> Bound:
    days = _given_int(given, "total_stay_days")
    return UNBOUNDED if days is None else Bound(ctx.p("base_cap") + ctx.p("per_stay_day") * days)


def _trial_satellite_office(ctx: Context, given: Raw) -> Bound:
    raw = given.get("fiscal_correction")
    if raw is None:
        return UNBOUNDED  # 財政力補正 is an input without a stated upper limit
    try:
        correction = Fraction(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else None
    except (ValueError, ZeroDivisionError):
        correction = None
    if correction is None or correction < 0:
        return UNBOUNDED
    return Bound(_floor(ctx.p("cost_cap") * ctx.p("rate") * correction))


def _advisor(ctx: Context, given: Raw) -> Bound:
    year_of_use = _given_int(given, "year_of_use")  # given, or filled from the record (services/subsidy/adviser_use.py)
    if year_of_use is not None and (past := advisor_year_reasons(year_of_use, ctx.p("max_years"))):
        return Bound(0, [asdict(reason) for reason in past])
    caps = {"private_expert": ctx.p("private_expert_cap"), "municipal_staff": ctx.p("municipal_staff_cap")}
    kind = given.get("adviser_type")
    return Bound(caps[kind] if kind in caps else max(caps.values()))


def _project_manager(ctx: Context, given: Raw) -> Bound:
    return Bound(ctx.p("per_person_cap") * ctx.p("max_persons"))


def _teiju_jiritsuken(ctx: Context, given: Raw) -> Bound:
    amounts = {"neighbour": ctx.p("neighbour_allowance"), "central_city": ctx.p("central_city_allowance")}
    role = given.get("role")
    return Bound(amounts[role] if role in amounts else max(amounts.values()))


def _kaso_bond(ctx: Context, given: Raw) -> Bound:
    if _attribute(ctx, "kaso") is False:
        return Bound(0, [{"code": "not_kaso", "message": "過疎対策事業債 is for 過疎 municipalities; this one is not"}])
    return UNBOUNDED


def _teiju_kasseika_bond(ctx: Context, given: Raw) -> Bound:
    if given.get("in_teiju_jiritsuken") is False:
        return Bound(
            0, [{"code": "not_in_teiju_jiritsuken", "message": "the bond is for a municipality in a 定住自立圏"}]
        )
    return UNBOUNDED


def _network_cap(ctx: Context, given: Raw) -> int:
    specialists, ict = given.get("with_specialists"), given.get("with_ict")
    additions = [0]
    if specialists is not False:
        additions.append(ctx.p("network_specialists_addition"))
    if ict is not False:
        additions.append(ctx.p("network_ict_addition"))
    if specialists is not False and ict is not False:
        additions.append(ctx.p("network_both_addition"))
    return int(ctx.p("network_cap") + max(additions))


def _kaso_grant_component(ctx: Context, given: Raw, component: str, applicant: str) -> int | None:
    if component == "network":
        return _network_cap(ctx, given)
    if applicant == "municipality" and _attribute(ctx, "kaso") is False:
        return 0
    if component == "sustainable_development":
        cap = ctx.p("sustainable_development_cap")
        return (
            cap
            if applicant == "municipality"
            else max(_floor(cap * Fraction(rate)) for rate in ctx.p("prefecture_rates"))
        )
    cost = _given_int(given, "cost")
    return None if cost is None else _floor(cost * ctx.p(f"{component}_rate"))


def _kaso_grants(ctx: Context, given: Raw) -> Bound:
    components = ["network", "sustainable_development", "settlement_reorganization", "idle_facility"]
    applicants = ["municipality", "prefecture"]
    chosen = [given["component"]] if given.get("component") in components else components
    applying = [given["applicant"]] if given.get("applicant") in applicants else applicants
    amounts = [_kaso_grant_component(ctx, given, c, a) for c in chosen for a in applying]
    if any(amount is None for amount in amounts):
        return UNBOUNDED
    return Bound(max(amount for amount in amounts if amount is not None))


BOUNDS: dict[str, Callable[[Context, Raw], Bound]] = {
    "distributed_energy": _distributed_energy,
    "decarbonization_experts": _decarbonization_experts,
    "okoshi_obog_network": _okoshi_obog_network,
    "furusato_workholi": _furusato_workholi,
    "trial_satellite_office": _trial_satellite_office,
    "advisor": _advisor,
    "project_manager": _project_manager,
    "teiju_jiritsuken": _teiju_jiritsuken,
    "kaso_bond": _kaso_bond,
    "teiju_kasseika_bond": _teiju_kasseika_bond,
    "kaso_grants": _kaso_grants,
}


def bound(program_id: str, ctx: Context, given: Raw) -> Bound:
    """Programs missing here (local10000, chiiki_okoshi, iju_teiju, kigyojin, tokutei_kumiai, digital_talent,
    jichitai_mynapoint_system) pay a share of a cost without a cap, or per person without a limit on persons."""
    found = BOUNDS.get(program_id)
    return found(ctx, given) if found is not None else UNBOUNDED
