"""Bonds with a yearly schedule: 過疎対策事業債 and 地域活性化事業債 for 定住自立圏 projects.

Both fund a share of the project cost (充当率) and put a share of each year's principal and interest into 交付税
(交付税算入率); they differ in the rates, the categories and who may issue them.
"""

from fractions import Fraction
from typing import Any, Literal

from pydantic import Field, model_validator

from common.errors import Unprocessable
from services.subsidy.calculators.base import (
    Context,
    Flag,
    FractionText,
    InputRelationError,
    Inputs,
    Yen,
    floor_note,
    floor_times,
)
from services.subsidy.rulebook import decimal_text


class BondInputs(Inputs):
    project_cost: Yen
    category: str = Field(min_length=1, max_length=60)
    annual_interest_rate: FractionText
    term_years: int = Field(ge=1, le=40, strict=True)
    grace_years: int = Field(default=0, ge=0, le=39, strict=True)
    method: Literal["level_payment", "level_principal"]

    @model_validator(mode="after")
    def _reasonable_rate(self) -> "BondInputs":
        if self.annual_interest_rate >= 1:
            raise InputRelationError(
                "annual_interest_rate", 'annual_interest_rate is a yearly rate such as "0.004" (0.4%), below 1'
            )
        return self


class KasoBondInputs(BondInputs):
    pass


class TeijuKasseikaBondInputs(BondInputs):
    in_teiju_jiritsuken: Flag = Field(
        default=False,
        description="the municipality is in a 定住自立圏 (a central "
        "city or a neighbour that signed a 定住自立圏形成協定)",
    )


def _annuity_payment(balance: int, rate: Fraction, years: int) -> int:
    """Level yearly payment (元利均等), rounded down to the yen; exact arithmetic."""
    if rate == 0:
        return balance // years
    growth = (1 + rate) ** years
    payment = balance * rate * growth / (growth - 1)
    return payment.numerator // payment.denominator


def _schedule(
    bond: int, rate: Fraction, years: int, grace: int, method: str, inclusion: Fraction
) -> list[dict[str, int]]:
    rows, balance = [], bond
    repaying = years - grace
    payment = _annuity_payment(bond, rate, repaying)
    for year in range(1, years + 1):
        interest = (balance * rate).numerator // (balance * rate).denominator
        if year <= grace:
            principal = 0
        elif year == years:
            principal = balance
        elif method == "level_principal":
            principal = bond // repaying
        else:
            principal = min(max(payment - interest, 0), balance)
        balance -= principal
        service = principal + interest
        grant = (service * inclusion).numerator // (service * inclusion).denominator
        rows.append(
            {
                "year": year,
                "principal": principal,
                "interest": interest,
                "debt_service": service,
                "grant_inclusion": grant,
                "municipal_net": service - grant,
            }
        )
    return rows


EMPTY_BOND: dict[str, Any] = {
    "bond_amount": 0,
    "schedule": [],
    "total_debt_service": 0,
    "total_grant_inclusion": 0,
    "total_municipal_net": 0,
}


def _check_terms(ctx: Context, i: BondInputs, name: str) -> int:
    """The years of repayment; 422 naming the field for a category or grace period the rules do not allow."""
    if i.category not in ctx.p("categories"):
        raise Unprocessable(
            f"category {i.category!r} is not a {name} category; use one of {', '.join(ctx.p('categories'))}",
            field="inputs.category",
        )
    repaying = i.term_years - i.grace_years if ctx.p("term_includes_grace") else i.term_years
    if repaying < 1:
        raise Unprocessable(
            "grace_years must be shorter than term_years (the term includes the grace years)",
            field="inputs.grace_years",
        )
    return int(repaying)


def _bond(ctx: Context, i: BondInputs, repaying: int) -> tuple[int, dict[str, Any]]:
    bond, exact = floor_times(i.project_cost, ctx.p("allocation_rate"))
    ctx.step(
        "bond_amount",
        "floor(project_cost × 充当率)",
        params=("allocation_rate", "categories"),
        inputs={"project_cost": i.project_cost, "category": i.category},
        result=bond,
        notes=floor_note(exact),
    )
    years = repaying + i.grace_years
    inclusion = ctx.p("grant_inclusion_rate")
    schedule = _schedule(bond, i.annual_interest_rate, years, i.grace_years, i.method, inclusion)
    totals = {key: sum(row[key] for row in schedule) for key in ("debt_service", "grant_inclusion", "municipal_net")}
    ctx.step(
        "schedule",
        "interest = floor(balance at the start of the year × rate); grace years pay interest only; "
        + (
            "level_principal: equal yearly principal (floor), the last year takes the remainder"
            if i.method == "level_principal"
            else "level_payment: annuity payment floored to the yen, the last year clears the balance"
        )
        + f"; grant_inclusion = floor(debt_service × {inclusion}); municipal_net = debt_service − grant_inclusion",
        params=("grant_inclusion_rate", "term_includes_grace"),
        inputs={
            "bond_amount": bond,
            "annual_interest_rate": decimal_text(i.annual_interest_rate),
            "term_years": i.term_years,
            "grace_years": i.grace_years,
            "method": i.method,
        },
        result={f"total_{k}": v for k, v in totals.items()},
    )
    return totals["grant_inclusion"], {
        "bond_amount": bond,
        "schedule": schedule,
        **{f"total_{k}": v for k, v in totals.items()},
    }


def kaso_bond(ctx: Context, i: BondInputs) -> tuple[int, dict[str, Any]]:
    repaying = _check_terms(ctx, i, "過疎対策事業債")
    kaso = bool(ctx.attribute("kaso"))
    ctx.step("kaso", "the municipality must be 過疎", inputs={"kaso": kaso}, result=kaso, citation="「過疎対策事業債」")
    if not kaso:
        ctx.ineligible("not_kaso", "過疎対策事業債 is for 過疎 municipalities; this one is not")
        return 0, dict(EMPTY_BOND)
    return _bond(ctx, i, repaying)


def teiju_kasseika_bond(ctx: Context, i: BondInputs) -> tuple[int, dict[str, Any]]:
    assert isinstance(i, TeijuKasseikaBondInputs)
    repaying = _check_terms(ctx, i, "地域活性化事業債 (定住自立圏)")
    ctx.step(
        "teiju_jiritsuken",
        "the municipality must be in a 定住自立圏",
        inputs={"in_teiju_jiritsuken": i.in_teiju_jiritsuken},
        result=i.in_teiju_jiritsuken,
        citation="「定住自立圏構想の推進」",
    )
    if not i.in_teiju_jiritsuken:
        ctx.ineligible(
            "not_in_teiju_jiritsuken",
            "地域活性化事業債 for 定住自立圏 projects is for a municipality in a "
            "定住自立圏 (give in_teiju_jiritsuken: true when it is)",
        )
        return 0, dict(EMPTY_BOND)
    return _bond(ctx, i, repaying)
