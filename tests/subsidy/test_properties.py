"""Invariants of the money paths, over many generated inputs (hypothesis)."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.subsidy.conftest import calc

yen = st.integers(min_value=0, max_value=10**11)
fsi = st.fractions(min_value=0, max_value=2, max_denominator=1000).map(lambda f: f"{f.numerator}/{f.denominator}")
fiscal_year = st.sampled_from([2022, 2023])
quick = settings(max_examples=150, deadline=None)


@quick
@given(a=yen, b=yen, index=fsi, year=fiscal_year, novel=st.booleans())
def test_distributed_energy_bounded_and_monotone(a, b, index, year, novel):
    low, high = sorted((a, b))
    inputs = {"fiscal_strength_index": index, "highly_novel": novel}
    small = calc("distributed_energy", {**inputs, "plan_cost": low}, year)["amount"]
    large = calc("distributed_energy", {**inputs, "plan_cost": high}, year)["amount"]
    assert 0 <= small <= large <= 20_000_000  # cap 20,000,000 at a rate of at most 10/10
    assert small <= low


@quick
@given(costs=st.tuples(yen, yen, yen), extra=yen)
def test_decarbonization_experts_bounded_and_monotone(costs, extra):
    honoraria, travel, other = costs
    base = calc("decarbonization_experts", {"honoraria": honoraria, "travel": travel, "other": other})["amount"]
    more = calc("decarbonization_experts", {"honoraria": honoraria + extra, "travel": travel, "other": other})["amount"]
    assert 0 <= base <= more <= 500_000


@quick
@given(
    grant=st.integers(min_value=0, max_value=10**10),
    extra_loan=yen,
    own=yen,
    index=fsi,
    digital=st.booleans(),
    decarbonization=st.booleans(),
    disadvantaged=st.booleans(),
)
def test_local10000_split_sums_to_the_grant(grant, extra_loan, own, index, digital, decarbonization, disadvantaged):
    loan = grant + extra_loan
    inputs = {
        "initial_investment": grant + loan + own,
        "municipal_grant": grant,
        "loan_amount": loan,
        "own_funds": own,
        "lender_type": "regional_bank",
        "digital": digital,
        "decarbonization": decarbonization,
        "disadvantaged_area": disadvantaged,
        "fiscal_strength_index": index,
    }
    result = calc("local10000", inputs)
    b = result["breakdown"]
    assert result["eligible"]
    assert b["national_share"] + b["special_allocation_tax"] + b["municipal_net"] == grant
    assert min(b["national_share"], b["special_allocation_tax"], b["municipal_net"]) >= 0
    assert result["amount"] == b["national_share"] + b["special_allocation_tax"] <= grant
    assert Fraction(1, 2) <= Fraction(b["rate"]) <= 1
    assert all(step["citation"] for step in result["trace"]), "every step names the rule it follows"


@quick
@given(cost=yen)
def test_tokutei_kumiai_shares_sum_to_the_cost(cost):
    b = calc("tokutei_kumiai", {"operating_cost": cost})["breakdown"]
    parts = [b["user_fees"], b["national_grant"], b["special_allocation_tax"], b["municipal_net"]]
    assert sum(parts) == cost and min(parts) >= 0
    assert b["municipal_net"] - cost // 8 in (0, 1, 2, 3)  # the remainder of three floors is at most 3 yen


@quick
@given(
    cost=st.integers(min_value=0, max_value=10**10),
    rate=st.integers(min_value=0, max_value=200),
    term=st.integers(min_value=1, max_value=30),
    grace=st.integers(min_value=0, max_value=5),
    method=st.sampled_from(["level_payment", "level_principal"]),
)
def test_kaso_bond_schedule_repays_the_bond_exactly(cost, rate, term, grace, method):
    grace = min(grace, term - 1)
    result = calc(
        "kaso_bond",
        {
            "project_cost": cost,
            "category": "soft",
            "annual_interest_rate": f"{rate}/10000",
            "term_years": term,
            "grace_years": grace,
            "method": method,
            "kaso": True,
        },
    )
    b = result["breakdown"]
    rows = b["schedule"]
    assert len(rows) == term
    assert sum(row["principal"] for row in rows) == b["bond_amount"] == cost
    for row in rows:
        assert min(row["principal"], row["interest"], row["grant_inclusion"], row["municipal_net"]) >= 0
        assert row["grant_inclusion"] + row["municipal_net"] == row["debt_service"]
        assert row["debt_service"] == row["principal"] + row["interest"]
        assert row["grant_inclusion"] * 10 <= row["debt_service"] * 7
    assert all(row["principal"] == 0 for row in rows[:grace])
    assert result["amount"] == b["total_grant_inclusion"] <= b["total_debt_service"]


@quick
@given(cost=yen, more=yen, days=st.integers(min_value=0, max_value=10_000))
def test_furusato_workholi_never_above_the_cap(cost, more, days):
    low = calc("furusato_workholi", {"cost": cost, "total_stay_days": days})
    high = calc("furusato_workholi", {"cost": cost + more, "total_stay_days": days})
    assert 0 <= low["amount"] <= high["amount"] <= 15_000_000 + 5_000 * days == high["breakdown"]["cap"]


@quick
@given(members=st.lists(st.tuples(yen, yen, st.booleans()), max_size=5), recruitment=yen, year=fiscal_year)
def test_chiiki_okoshi_member_cap(members, recruitment, year):
    inputs = {
        "recruitment_cost": recruitment,
        "members": [{"reward_cost": r, "other_cost": o, "reward_flex": f} for r, o, f in members],
    }
    b = calc("chiiki_okoshi", inputs, year)["breakdown"]
    assert 0 <= b["activity"] <= 4_800_000 * len(members)
    assert b["recruitment"] == min(recruitment, 3_000_000 if year == 2023 else 2_000_000)
    assert b["total"] == sum(v for k, v in b.items() if k != "total")


@quick
@given(cost=yen, hardware=yen, correction=st.fractions(min_value=0, max_value=2, max_denominator=100))
def test_trial_satellite_office_never_above_the_cap(cost, hardware, correction):
    result = calc(
        "trial_satellite_office",
        {"cost": cost + hardware, "hardware_cost": hardware, "fiscal_correction": str(correction)},
    )
    assert 0 <= result["amount"] <= 10_000_000 * Fraction(1, 2) * correction


people = st.lists(st.tuples(yen, yen, st.integers(min_value=0, max_value=60)), max_size=6)


@quick
@given(persons=people, preparation=yen)
def test_kigyojin_never_above_the_caps(persons, preparation):
    inputs = {
        "in_three_metro_areas": False,
        "company_in_three_metro_areas": True,
        "preparation_cost": preparation,
        "persons": [{"acceptance_cost": a, "proposal_cost": p, "dispatch_months": m} for a, p, m in persons],
    }
    result = calc("kigyojin", inputs)
    b = result["breakdown"]
    counted = sum(1 for _, _, months in persons if 6 <= months <= 36)
    assert 0 <= b["acceptance"] <= 5_600_000 * counted
    assert 0 <= b["proposal"] <= 500_000 * counted
    assert 0 <= b["preparation"] <= 500_000
    assert result["amount"] == (b["total"] if result["eligible"] else 0)


@quick
@given(
    persons=st.lists(
        st.tuples(yen, st.integers(min_value=1, max_value=5), st.booleans(), st.booleans()), min_size=1, max_size=6
    )
)
def test_project_manager_pays_at_most_two_capped_persons(persons):
    inputs = {
        "persons": [{"cost": c, "year_of_service": y, "moved_in": m, "local_exception": e} for c, y, m, e in persons]
    }
    b = calc("project_manager", inputs)["breakdown"]
    assert sum(1 for allowance in b["per_person"] if allowance) <= 2
    assert all(0 <= allowance <= 6_500_000 for allowance in b["per_person"])
    assert b["total"] == sum(b["per_person"])
