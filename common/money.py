"""Money is int yen; rates are exact `Fraction`s; results are floored to the yen unless a rule says otherwise.

Floats are refused on purpose: 0.1 + 0.2 is not 0.3, and a subsidy must be right to the yen.
"""

from decimal import Decimal
from fractions import Fraction
from numbers import Rational

Yen = int


def yen(value: object, *, field: str = "amount") -> Yen:
    """Validate a yen amount: a non-negative int (bool and float are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: yen must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{field}: yen must not be negative, got {value}")
    return value


def rate(value: object) -> Fraction:
    """An exact rate from a Fraction, an int, a Decimal or a string such as '3/4' or '0.7'."""
    if isinstance(value, bool | float):
        raise TypeError(f"rates must be exact, not {type(value).__name__}: write '3/4' or '0.75' as text")
    if isinstance(value, (Fraction, int, Rational)):
        return Fraction(value)
    if isinstance(value, Decimal):
        return Fraction(value)
    if isinstance(value, str):
        return Fraction(value.strip())
    raise TypeError(f"cannot read a rate from {type(value).__name__}")


def floor_yen(amount: Fraction | int) -> Yen:
    """Round down to the yen (`floor`), the rounding the policy rules use unless they say otherwise."""
    return int(Fraction(amount) // 1)


def apply_rate(amount: Yen, r: Fraction) -> Yen:
    """floor(amount × rate): multiply first, then round down once."""
    return floor_yen(yen(amount) * rate(r))


def capped(amount: Yen, cap: Yen | None) -> Yen:
    """min(amount, cap), the 上限 of the rules; no cap means the amount itself."""
    return yen(amount) if cap is None else min(yen(amount), yen(cap, field="cap"))


def split(total: Yen, shares: list[Fraction]) -> list[Yen]:
    """Split `total` by `shares` (summing to 1), each part floored and the remainder on the last part.

    The parts always add up to the total exactly.
    """
    shares = [rate(s) for s in shares]
    if sum(shares) != 1:
        raise ValueError(f"shares must sum to 1, got {sum(shares)}")
    parts = [apply_rate(total, s) for s in shares[:-1]]
    parts.append(total - sum(parts))
    return parts
