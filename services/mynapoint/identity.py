"""Resident identity: the マイキーID, stored only as a keyed hash; a 個人番号 (My Number) is refused unseen.

One normal form (docs/domain.md, "Identity and eligibility"): NFKC (full-width letters, digits and signs become
their ASCII forms), then surrounding whitespace removed; what remains must be 4 to 64 of A-Z a-z 0-9 . _ -
(case kept). The hash is of that form, so "ABCD1234", "ＡＢＣＤ１２３４" and "ABCD1234\\n" are one resident.
"""

import hashlib
import hmac
import re
import unicodedata

from common.error_codes import ErrorCode
from common.errors import Unprocessable

MYKI_ID = re.compile(r"[A-Za-z0-9._-]{4,64}")
TWELVE_DIGITS = re.compile(r"[0-9]{12}")
# Everything but ASCII letters and digits, once normalised: hyphens, dashes, dots, spaces, slashes, 長音符 …
SEPARATORS = re.compile(r"[^A-Za-z0-9]")


def my_number_check_digit(first_eleven: str) -> int:
    """The official formula (番号法施行令 第8条): Pn is the n-th digit from the right of the first eleven,
    Qn = n + 1 for n ≤ 6 and n − 5 for n ≥ 7; r = Σ Pn·Qn mod 11; check = 0 if r ≤ 1 else 11 − r."""
    total = sum(int(digit) * (n + 1 if n <= 6 else n - 5) for n, digit in enumerate(reversed(first_eleven), start=1))
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(value: str) -> bool:
    """Exactly twelve ASCII digits whose last is the check digit of the first eleven."""
    return bool(TWELVE_DIGITS.fullmatch(value)) and my_number_check_digit(value[:11]) == int(value[11])


def normal_form(value: str) -> str:
    """Width-normalised (NFKC) and trimmed: the form that is validated and hashed."""
    return unicodedata.normalize("NFKC", value).strip()


def could_be_my_number(value: str) -> bool:
    """A 個人番号 however it is written: full-width, with hyphens, spaces or any other separators between digits."""
    return _could_be_my_number(normal_form(value))


def _could_be_my_number(normal: str) -> bool:
    return is_my_number(SEPARATORS.sub("", normal))


def identity_problem(value: str) -> str | None:
    """Why `value` cannot be a マイキーID, in words that never repeat the value itself."""
    return _problem(normal_form(value))


def _problem(normal: str) -> str | None:
    if _could_be_my_number(normal):
        return "this looks like a 12-digit 個人番号 (My Number), which must never be sent; send the マイキーID"
    if not MYKI_ID.fullmatch(normal):
        return "a マイキーID is 4 to 64 letters, digits, '.', '_' or '-'"
    return None


class MykiHasher:
    """The keyed hash of マイキーIDs under one secret, its key schedule computed once (a roster hashes thousands)."""

    def __init__(self, secret: bytes):
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def __call__(self, myki_id: str, *, field: str = "myki_id") -> str:
        normal = normal_form(myki_id)
        problem = _problem(normal)
        if problem:
            raise Unprocessable(problem, code=ErrorCode.INVALID_IDENTITY, field=field)
        mac = self._keyed.copy()
        mac.update(normal.encode())
        return mac.hexdigest()


def myki_hash(myki_id: str, secret: bytes, *, field: str = "myki_id") -> str:
    return MykiHasher(secret)(myki_id, field=field)
