"""How staff read a person they may not know by name: the customer's name when they joined
the program, else the messenger's name and their id there ("Telegram 123456")."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.channels.registry import label

SHOWN_ID = 12  # a longer id (a web chat visitor's) is cut: it is for telling people apart


def channel_name(_: Callable[[str], str], channel: str) -> str:
    """The channel's label in the reader's language; a name no channel has, as it is."""
    known = label(channel)
    return _(known) if known else channel


def channel_names(_: Callable[[str], str], channels: Sequence[str]) -> str:
    """«Telegram, Viber»."""
    return ", ".join(channel_name(_, channel) for channel in channels)


def person(_: Callable[[str], str], channel: str, external_id: str, name: str | None) -> str:
    where = channel_name(_, channel)
    if name:
        return _("{name} ({channel})").format(name=name, channel=where)
    shown = external_id if len(external_id) <= SHOWN_ID else external_id[:SHOWN_ID - 4] + "…"
    return _("{channel} {id}").format(channel=where, id=shown)
