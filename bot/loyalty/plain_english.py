"""The command line speaks plain English (it has no reader's language to go by): a count
reads with its noun in the right form, "1 message", "2 messages"."""

from __future__ import annotations


def noun(n: int, singular: str, plural: str | None = None) -> str:
    """The form of the noun for ``n`` ("message" for 1, else "messages" or ``plural``)."""
    return singular if n == 1 else plural or singular + "s"


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with its noun: "1 message", "0 messages", "3 figures"."""
    return f"{n} {noun(n, singular, plural)}"
