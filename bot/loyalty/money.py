"""Money is kept in minor units (kopecks, cents) as integers; points are whole currency units."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.core.text import whole_number

MINOR_PER_UNIT = 100
MAX_AMOUNT = 10_000_000 * MINOR_PER_UNIT  # one purchase of ten million is surely a typo

_API_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")
_TYPED = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+")


class InvalidAmount(ValueError):
    """``reason`` says why: format, zero, too_large."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checked(minor: int) -> int:
    if minor <= 0:
        raise InvalidAmount("zero")
    if minor > MAX_AMOUNT:
        raise InvalidAmount("too_large")
    return minor


def parse_api_amount(text: object) -> int:
    """The POS API's decimal string: "1500", "1500.5", "1500.00" (a dot, at most 2 decimals)."""
    if not isinstance(text, str) or not _API_AMOUNT.fullmatch(text):
        raise InvalidAmount("format")
    return _checked(int(Decimal(text) * MINOR_PER_UNIT))


def parse_typed_amount(text: str) -> int:
    """What a cashier types: "1500", "1 500", "1500,50", "1500.50", "1,500.00" or
    "1.500,00". With both separators, the last one is the decimal point; a single
    separator followed by three digits ("1,500") is ambiguous and refused."""
    text = text.strip().replace("\u00a0", " ").replace("\u202f", " ")
    separators = [i for i, ch in enumerate(text) if ch in ",."]
    whole, fraction = text, ""
    if separators:
        last = separators[-1]
        whole, fraction = text[:last], text[last + 1:]
        thousands = {text[i] for i in separators[:-1]}
        if thousands and (thousands == {text[last]} or len(thousands) > 1):
            raise InvalidAmount("format")
        whole = whole.replace(",", "").replace(".", "") if thousands else whole
        if not fraction.isdecimal() or len(fraction) > 2 or (not thousands and len(fraction) == 3):
            raise InvalidAmount("format")
    if not _TYPED.fullmatch(whole):
        raise InvalidAmount("format")
    if whole_number(whole.replace(" ", "")) is None:  # thousands of digits: no int() reads them
        raise InvalidAmount("too_large")
    minor = int(whole.replace(" ", "")) * MINOR_PER_UNIT
    if fraction:
        minor += int(fraction.ljust(2, "0"))
    return _checked(minor)



def api_amount(minor: int) -> str:
    """Minor units as the API's decimal string: 150000 → "1500.00"."""
    return f"{minor // MINOR_PER_UNIT}.{minor % MINOR_PER_UNIT:02d}"
