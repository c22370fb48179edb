"""What a channel declares about itself, for the code outside bot/channels/: its name and
label, when it is on and how it is built from the config, its rate limits, what a list of
replies costs it in API calls, and what it can and cannot do where the program branches on
that. Each adapter module (telegram, viber, whatsapp, max, web) declares its own ``KIND``;
bot/channels/registry.py lists them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.config import OutboxSettings, Settings
from bot.core.replies import CommandMenu, Reply, Template

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.core.conversation import Core
    from bot.delivery.pace import Pace
    from bot.storage.uow import UnitOfWork


def default_reply_cost(reply: Reply) -> int:
    return 0 if isinstance(reply, (Template, CommandMenu)) else 1


def default_cost(replies: Sequence[Reply]) -> int:
    """API calls of ``replies`` on a platform with no costs of its own: one per text,
    picture with its caption, contact request or file; a hint only another platform uses
    (a template, a command menu) costs nothing."""
    return sum(default_reply_cost(reply) for reply in replies)


def _always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class ChannelCommand:
    """``loyalty-bot <channel> <name>``: a command line action of one channel."""

    name: str
    help: str
    run: Callable[[Settings], Coroutine[Any, Any, int]]  # the exit status


@dataclass(frozen=True, slots=True)
class ChannelKind:
    name: str  # in the database (``identities.channel``, ``outbox.channel``) and in admin ids
    label: str  # N_() msgid: how people read the channel («Telegram», «Web chat»)
    enabled: Callable[[Settings], bool]  # its config section is set
    build: Callable[[Settings, Core, Pace], Channel]  # the adapter, from the config
    verified_contacts: bool  # a "share my contact" button proves the number
    # a typed phone is taken (unverified); None: only where there is no button
    typed_phone: bool | None = None
    # (messages a second, all chats together; to one chat) from [outbox]; None: not limited
    rates: Callable[[OutboxSettings], tuple[float, float]] | None = None
    cost: Callable[[Sequence[Reply]], int] = default_cost  # API calls of a list of replies
    paid_messages: bool = False  # a message the program starts costs money (counted in reports)
    takes_marketing: Callable[[Settings], bool] = _always  # triggers and broadcasts may use it
    photo_captions: bool = False  # /broadcast asks for its picture as a photo with a caption
    reaches_when_away: bool = True  # False: messages wait until the person opens it again
    built_in: bool = False  # served by the app itself, no messenger account (the demo's, too)
    paces_broadcasts: bool = False  # a broadcast's messages are due at this channel's rate
    # forgets what it keeps of the platform's once no longer needed, inside the caller's
    # transaction (the housekeeping job commits)
    upkeep: Callable[[UnitOfWork, datetime], Awaitable[None]] | None = None
    commands: tuple[ChannelCommand, ...] = ()
