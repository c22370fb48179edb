"""How staff read a person they may not know by name: the customer's name when they joined
the program, else the messenger's name and their id there ("Telegram 123456")."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.i18n import N_

CHANNEL_NAMES = {"telegram": N_("Telegram"), "viber": N_("Viber"), "whatsapp": N_("WhatsApp"),
                 "web": N_("Web chat")}
SHOWN_ID = 12  # a longer id (a web chat visitor's) is cut: it is for telling people apart


def channel_name(_: Callable[[str], str], channel: str) -> str:
    return _(CHANNEL_NAMES[channel]) if channel in CHANNEL_NAMES else channel


def person(_: Callable[[str], str], channel: str, external_id: str, name: str | None) -> str:
    where = channel_name(_, channel)
    if name:
        return _("{name} ({channel})").format(name=name, channel=where)
    shown = external_id if len(external_id) <= SHOWN_ID else external_id[:SHOWN_ID - 4] + "…"
    return _("{channel} {id}").format(channel=where, id=shown)
