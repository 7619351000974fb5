from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.money import apply_rate, capped, floor_yen, rate, split, yen

amounts = st.integers(min_value=0, max_value=10**13)
rates = st.fractions(min_value=0, max_value=1, max_denominator=1000)


def test_rate_reads_exact_forms():
    assert rate("3/4") == Fraction(3, 4)
    assert rate("0.7") == Fraction(7, 10)
    assert rate(1) == 1


@pytest.mark.parametrize("bad", [0.75, True])
def test_rate_refuses_inexact_values(bad):
    with pytest.raises(TypeError):
        rate(bad)


@pytest.mark.parametrize("bad", [1.0, "100", True, None])
def test_yen_refuses_non_integers(bad):
    with pytest.raises(TypeError):
        yen(bad)


def test_yen_refuses_negative_and_names_the_field():
    with pytest.raises(ValueError, match="plan_cost"):
        yen(-1, field="plan_cost")


def test_floor_rounds_down_not_to_nearest():
    # 1,000,001 × 2/3 = 666,667.33… → 666,667; 999,999 × 1/2 = 499,999.5 → 499,999 (not 500,000)
    assert apply_rate(1_000_001, Fraction(2, 3)) == 666_667
    assert apply_rate(999_999, Fraction(1, 2)) == 499_999


def test_cap_applies_before_the_rate():
    # 上限 20,000,000 with 3/4: cost 30,000,000 → floor(20,000,000 × 3/4) = 15,000,000
    assert apply_rate(capped(30_000_000, 20_000_000), Fraction(3, 4)) == 15_000_000


@given(amounts, rates)
def test_apply_rate_is_floor_of_exact_product(amount, r):
    result = apply_rate(amount, r)
    assert result <= amount * r < result + 1
    assert 0 <= result <= amount


@given(amounts, rates, rates)
def test_apply_rate_is_monotone_in_rate(amount, r1, r2):
    low, high = sorted([r1, r2])
    assert apply_rate(amount, low) <= apply_rate(amount, high)


@given(amounts, st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=6))
def test_split_parts_always_sum_to_the_whole(total, weights):
    shares = [Fraction(w, sum(weights)) for w in weights]
    parts = split(total, shares)
    assert sum(parts) == total
    assert all(part >= 0 for part in parts)


def test_split_refuses_shares_not_summing_to_one():
    with pytest.raises(ValueError):
        split(100, [Fraction(1, 2), Fraction(1, 3)])


def test_floor_yen_of_negative_fraction_goes_down():
    assert floor_yen(Fraction(-1, 2)) == -1
