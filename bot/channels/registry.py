"""The one list of channels, and the questions the rest of the program asks about them by
name (a name read from the database may be a channel no longer configured, or unknown)."""

from __future__ import annotations

from functools import cache

from bot.channels.kind import ChannelKind
from bot.config import OutboxSettings, Settings


@cache
def kinds() -> tuple[ChannelKind, ...]:
    """Every channel, in the order they are built (and their admin links printed). Imported
    on first use, not with this module: the adapters import the core, which asks here."""
    from bot.channels import max as max_channel
    from bot.channels import telegram, viber, web, whatsapp

    return (web.KIND, telegram.KIND, viber.KIND, whatsapp.KIND, max_channel.KIND)


def find(name: str) -> ChannelKind | None:
    return next((kind for kind in kinds() if kind.name == name), None)


def label(name: str) -> str | None:
    """The channel's label (a msgid to translate), None for a name no channel has."""
    kind = find(name)
    return kind.label if kind else None


def paid_channels() -> tuple[str, ...]:
    """Where a message the program starts costs money."""
    return tuple(kind.name for kind in kinds() if kind.paid_messages)


def photo_channels() -> tuple[str, ...]:
    """Where /broadcast takes its picture as a photo with the text as its caption."""
    return tuple(kind.name for kind in kinds() if kind.photo_captions)


def takes_marketing(name: str, settings: Settings) -> bool:
    kind = find(name)
    return kind is None or kind.takes_marketing(settings)


def waiting_channels() -> tuple[str, ...]:
    """Where messages wait for the person to open the channel again (not offered as the
    one their messages come to)."""
    return tuple(kind.name for kind in kinds() if not kind.reaches_when_away)


def rates(settings: OutboxSettings) -> dict[str, tuple[float, float]]:
    """Each limited channel's (messages a second, to one chat a second)."""
    return {kind.name: kind.rates(settings) for kind in kinds() if kind.rates is not None}


def pace(settings: OutboxSettings) -> tuple[ChannelKind, float]:
    """The channel whose rate a broadcast's messages are due at, and that rate (messages a
    second, all chats together)."""
    [(kind, limits)] = [(kind, kind.rates(settings)) for kind in kinds()
                        if kind.paces_broadcasts and kind.rates is not None]
    return kind, limits[0]


def built_in() -> ChannelKind:
    """The channel the app serves itself (the web chat)."""
    [kind] = [kind for kind in kinds() if kind.built_in]
    return kind
