"""What a person must never read: a code from inside the program (a trigger's, a segment's,
a config key) instead of words."""

from __future__ import annotations

import re

# what may look like code but is meant for people: links, e-mail addresses, /commands,
# placeholders still to be filled
MEANT = re.compile(r"https?://\S+|\S+@\S+|/[a-z_]+|\{[a-z_][a-z0-9_]*\}")
RAW_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"  # snake_case: win_back_30
                     r"|\b[a-z]+(?:\.[a-z_]+)+\b")  # a dotted path: console.retention_spend
ALLOWED = {"e.g"}  # "e.g." in English


def raw_keys(text: str) -> list[str]:
    """The program's own codes that ``text`` shows."""
    return [key for key in RAW_KEY.findall(MEANT.sub(" ", text)) if key not in ALLOWED]
