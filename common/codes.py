"""全国地方公共団体コード: five digits and a check digit."""

import re

MUNICIPALITY_CODE_PATTERN = r"^[0-9]{6}$"
MUNICIPALITY_CODE_DESCRIPTION = (
    "全国地方公共団体コード: five digits and a check digit, the sixth: "
    "(11 − (6·d1 + 5·d2 + 4·d3 + 3·d4 + 2·d5) mod 11) mod 10, e.g. 012092"
)
_SIX_DIGITS = re.compile(MUNICIPALITY_CODE_PATTERN)
_WEIGHTS = (6, 5, 4, 3, 2)


def check_digit(code5: str) -> str:
    """MIC's rule: weight the five digits 6,5,4,3,2, take the sum modulo 11, check = (11 − r) mod 10."""
    total = sum(int(digit) * weight for digit, weight in zip(code5, _WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def local_government_code_problem(code: str) -> str | None:
    """Why `code` is not a well-formed 6-digit code, or None when it is."""
    if not _SIX_DIGITS.match(code):
        return "a municipality code is 6 digits (全国地方公共団体コード), e.g. 012092"
    if check_digit(code[:5]) != code[5]:
        return f"{code} fails the check digit of 全国地方公共団体コード (expected {code[:5]}{check_digit(code[:5])})"
    return None
