"""Free text from outside (a name, a comment, a message) without control characters: a NUL
that PostgreSQL refuses, or a character Excel can't hold, never gets stored."""

from __future__ import annotations

import re

# C0 controls but the tab and the line break, DEL, and C1 controls
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def has_controls(text: str) -> bool:
    return CONTROLS.search(text) is not None


def without_controls(text: str) -> str:
    return CONTROLS.sub("", text)
