"""Birthdays as customers type them: DD.MM.YYYY, or DD.MM without the year."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_PATTERN = re.compile(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{4}))?")
_LEAP_YEAR = 2000  # lets 29.02 stand without a year
OLDEST_YEAR = 1900


@dataclass(frozen=True, slots=True)
class Birthday:
    day: int
    month: int
    year: int | None


def parse_birthday(text: str, today: date) -> Birthday:
    """Raise ValueError unless ``text`` is a real past date (or a real day of the year)."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected DD.MM.YYYY or DD.MM")
    day, month = int(match[1]), int(match[2])
    year = int(match[3]) if match[3] else None
    born = date(year or _LEAP_YEAR, month, day)  # raises ValueError for 31.02 or month 13
    if year is not None and not (year >= OLDEST_YEAR and born <= today):
        raise ValueError("birthday out of range")
    return Birthday(day, month, year)
