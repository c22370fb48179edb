"""Free text from outside (a name, a comment, a message) without control characters: a NUL
that PostgreSQL refuses, a character Excel can't hold, or a lone surrogate (a JSON
``"\\ud800"`` escape, an undecodable header byte) that no UTF-8 database can take, never
gets stored."""

from __future__ import annotations

import re

# C0 controls but the tab and the line break, DEL, C1 controls, and lone surrogates
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


MAX_ROW_ID = 2 ** 63 - 1  # a BIGINT on PostgreSQL, an INTEGER on SQLite
MAX_DIGITS = 18  # of a typed count: any 18 digits fit MAX_ROW_ID too


def row_id(text: str) -> int | None:
    """The id of a row as a button's payload or a person carries it ("42"): digits that fit
    the database's integers; None for anything else. A payload is input too (a web chat
    page or a Viber user can send any): a number past 2**63 failed its query."""
    if not text.isdecimal() or len(text) > len(str(MAX_ROW_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ROW_ID else None


def whole_number(text: str) -> int | None:
    """A count a person typed ("500"): up to 18 digits, more than any range we take holds;
    None for anything else. Python reads no more than 4300 digits (a ValueError past them),
    and a web chat or Viber message can carry more."""
    return int(text) if text.isdecimal() and len(text) <= MAX_DIGITS else None


def has_controls(text: str) -> bool:
    return CONTROLS.search(text) is not None


def without_controls(text: str) -> str:
    return CONTROLS.sub("", text)
