"""Free text from outside (a name, a comment, a message) without control characters: a NUL
that PostgreSQL refuses, a character Excel can't hold, or a lone surrogate (a JSON
``"\\ud800"`` escape, an undecodable header byte) that no UTF-8 database can take, never
gets stored."""

from __future__ import annotations

import re

# C0 controls but the tab and the line break, DEL, C1 controls, and lone surrogates
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def has_controls(text: str) -> bool:
    return CONTROLS.search(text) is not None


def without_controls(text: str) -> str:
    return CONTROLS.sub("", text)
