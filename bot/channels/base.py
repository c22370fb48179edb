"""The channel boundary. An adapter turns platform input into core events and core replies
into platform calls; it can also send on its own initiative (triggers, broadcasts).

An adapter must render text (with its buttons); pictures and contact requests fall back to
text on a platform that has nothing better.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.channels.kind import ChannelKind, default_cost
from bot.core.context import ChannelInfo
from bot.core.replies import AskContact, CommandMenu, Document, Picture, Reply, Template, Text
from bot.storage.leader import in_turn, polling_lock

if TYPE_CHECKING:
    from aiohttp import web

    from bot.core.conversation import Core


class RetryLater(Exception):
    """The platform asks to wait this many seconds before sending again (a flood limit)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Unreachable(Exception):
    """The person cannot be written to any more (blocked the bot, deleted the account)."""


class KeptForLater(Exception):
    """Not delivered now, but kept where the person will see it when they come back (a web
    visitor with no page open): not a failure, and not to be sent again."""


class Undeliverable(Exception):
    """This message cannot go out as it is, and trying again will not help (the reason is
    recorded with the failed message)."""


class Channel(ABC):
    name: str
    kind: ChannelKind | None = None  # what the adapter declares (None: a stand-in, in tests)

    @abstractmethod
    def info(self) -> ChannelInfo: ...

    def cost(self, replies: Sequence[Reply]) -> int:
        """The API calls it takes to send ``replies`` here (what rate limits count), as the
        channel declares (``default_cost`` when it declares nothing)."""
        return (self.kind.cost if self.kind else default_cost)(replies)

    def install(self, app: web.Application) -> None:
        """Add its routes (a webhook, the web chat's pages) to the app's web server."""

    def template_problems(self, catalogue: Mapping[str, Sequence[str]]) -> list[str]:
        """What its configured message templates name that no message carries (``catalogue``:
        each template key and its values, bot/marketing/templates.py); the app logs them at
        start. A channel without templates has none."""
        return []

    @abstractmethod
    async def send_text(self, recipient: str, reply: Text) -> None: ...

    async def send_picture(self, recipient: str, reply: Picture) -> None:
        await self.send_text(recipient, Text(reply.caption, reply.buttons))

    async def ask_contact(self, recipient: str, reply: AskContact) -> None:
        await self.send_text(recipient, Text(reply.text))

    async def send_document(self, recipient: str, reply: Document) -> None:
        """A platform without files says what it would have sent. An adapter that sends the
        file removes it afterwards when ``remove_after`` is set."""
        try:
            await self.send_text(recipient, Text(f"{reply.caption}\n[{reply.filename}]".strip()))
        finally:
            discard(reply)

    async def set_command_menu(self, recipient: str, reply: CommandMenu) -> None:
        """A platform without a command menu has nothing to change."""

    async def send(self, recipient: str, replies: Sequence[Reply]) -> None:
        for reply in replies:
            match reply:
                case Text():
                    await self.send_text(recipient, reply)
                case Picture():
                    await self.send_picture(recipient, reply)
                case AskContact():
                    await self.ask_contact(recipient, reply)
                case Document():
                    await self.send_document(recipient, reply)
                case CommandMenu():
                    await self.set_command_menu(recipient, reply)
                case Template():
                    pass  # a hint for platforms that need templates; the other replies say it all

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        """Send on the program's own initiative (the outbox message ``message_id``): like
        ``send``, but platform errors are translated into ``RetryLater`` and ``Unreachable``."""
        await self.send(recipient, replies)

    async def start(self) -> None:
        """Connect to the platform (called once the web server is up)."""

    async def stop(self) -> None:
        """Stop taking new input (events already taken are still answered)."""

    async def close(self) -> None:
        """Release the platform client once nothing is in flight."""


def channel_info(kind: ChannelKind, deep_link: Callable[[str], str],
                 share_link: Callable[[str, str], str] | None = None) -> ChannelInfo:
    """What the core learns of an event's channel: its declaration and its links."""
    return ChannelInfo(kind.name, verified_contacts=kind.verified_contacts, deep_link=deep_link,
                       typed_phone=kind.typed_phone, share_link=share_link)


class BackgroundWork:
    """What a webhook started after answering the platform at once: kept until done (a task
    nobody holds may be collected), so that stopping can wait for it."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, timeout: float | None = None) -> None:
        """Until everything started so far (and what it starts) is done, or ``timeout``."""
        if timeout is not None:
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=timeout)
            return
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def poll_in_turn(core: Core, name: str, poll: Callable[[], Awaitable[None]]) -> None:
    """A messenger's long polling (``poll``, until it is stopped) in one process at a time
    of those sharing the database: a messenger hands its updates to one poller (Telegram
    answers a second one with 409 Conflict), so the other processes wait, and one of them
    takes over within ``scheduler.takeover_seconds`` when the polling process dies."""
    settings = core.services.settings
    await in_turn(settings.database.url, polling_lock(name), poll, what=f"{name} long polling",
                  retry_seconds=settings.scheduler.takeover_seconds)


def discard(reply: Document) -> None:
    """Remove a sent document's file when it asks for it."""
    if reply.remove_after:
        Path(reply.path).unlink(missing_ok=True)
