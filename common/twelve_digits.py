"""Twelve digits, together or in groups of four: what a 個人番号 (My Number) looks like. No log line may carry one,
and no request id (which rows store) may hold one."""

import re

TWELVE_DIGITS = re.compile(r"(?<!\d)\d{4}([- ]?)\d{4}\1\d{4}(?!\d)")
MASK = "[12 digits]"
ASCII_DIGITS = b"0123456789"


def _may_hold_twelve_digits(text: str) -> bool:
    """False when `text` has fewer than twelve digits, counted in C for ASCII text: cheaper than the regular
    expression's scan, which most text (a log line's fields) need not have. Other text may hold full-width digits."""
    if len(text) < 12:
        return False
    if not text.isascii():
        return True
    return len(text) - len(text.encode().translate(None, ASCII_DIGITS)) >= 12


def holds_twelve_digits(text: str) -> bool:
    return _may_hold_twelve_digits(text) and TWELVE_DIGITS.search(text) is not None


def mask_twelve_digits(text: str) -> str:
    return TWELVE_DIGITS.sub(MASK, text) if _may_hold_twelve_digits(text) else text
