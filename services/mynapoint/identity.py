"""Resident identity: the マイキーID, stored only as a keyed hash; a 個人番号 (My Number) is refused unseen."""

import hashlib
import hmac
import re

from common.error_codes import ErrorCode
from common.errors import Unprocessable

MYKI_ID = re.compile(r"^[A-Za-z0-9._-]{4,64}$")
TWELVE_DIGITS = re.compile(r"^\d{12}$")


def my_number_check_digit(first_eleven: str) -> int:
    """The official formula (番号法施行令 第8条): Pn is the n-th digit from the right of the first eleven,
    Qn = n + 1 for n ≤ 6 and n − 5 for n ≥ 7; r = Σ Pn·Qn mod 11; check = 0 if r ≤ 1 else 11 − r."""
    total = sum(int(digit) * (n + 1 if n <= 6 else n - 5)
                for n, digit in enumerate(reversed(first_eleven), start=1))
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(value: str) -> bool:
    return bool(TWELVE_DIGITS.match(value)) and my_number_check_digit(value[:11]) == int(value[11])


def identity_problem(value: str) -> str | None:
    """Why `value` cannot be a マイキーID, in words that never repeat the value itself."""
    if is_my_number(value):
        return "this looks like a 12-digit 個人番号 (My Number), which must never be sent; send the マイキーID"
    if not MYKI_ID.match(value):
        return "a マイキーID is 4 to 64 letters, digits, '.', '_' or '-'"
    return None


def myki_hash(myki_id: str, secret: bytes, *, field: str = "myki_id") -> str:
    problem = identity_problem(myki_id)
    if problem:
        raise Unprocessable(problem, code=ErrorCode.INVALID_IDENTITY, field=field)
    return hmac.new(secret, myki_id.encode(), hashlib.sha256).hexdigest()
