"""Twelve digits, together or in groups of four: what a 個人番号 (My Number) looks like. No log line may carry one,
and no request id (which rows store) may hold one."""

import re

TWELVE_DIGITS = re.compile(r"(?<!\d)\d{4}([- ]?)\d{4}\1\d{4}(?!\d)")
MASK = "[12 digits]"


def holds_twelve_digits(text: str) -> bool:
    return TWELVE_DIGITS.search(text) is not None


def mask_twelve_digits(text: str) -> str:
    return TWELVE_DIGITS.sub(MASK, text)
