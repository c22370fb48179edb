"""Work a handler leaves for after its event's transaction commits: slow work (a chart to
draw, a file to write, a picture to download) must not run inside the transaction, which
on SQLite holds the app's only writer for as long as it lasts.

A handler returns ``Later(work)`` among its replies; the core commits the event, then runs
each work in turn, still in the person's turn (their next event waits) but outside any
transaction, and puts the replies it returns in its place, in the order the handler gave.
The work gets plain values gathered inside the transaction, never the event's unit of
work (it is closed by then); one that must write opens a short one of its own. A failing
work is logged and answered with the apology; nothing is rolled back, since what the
event changed is committed already.

``PictureFirst(event)`` is the same for an inbound picture: it is downloaded after the
commit and the event is handled again, with the bytes, in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from bot.core.events import Event
from bot.core.replies import Keyboard, Picture, Reply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Later:
    """Replies made after the commit, by ``work``, in this one's place."""

    work: Callable[[], Awaitable[Sequence[Reply]]]


@dataclass(frozen=True, slots=True)
class PictureFirst:
    """Handle ``event`` again after the commit, its picture downloaded first."""

    event: Event


Answer = Reply | Later | PictureFirst  # what a handler returns
Again = Callable[[Event], Awaitable[list[Reply]]]  # the core handling an event once more


def drawn_later(draw: Callable[[], bytes], caption: str, buttons: Keyboard = (),
                cache_key: str | None = None) -> Later:
    """A picture drawn in a worker thread after the commit (a chart takes half a second)."""

    async def picture() -> list[Reply]:
        return [Picture(await asyncio.to_thread(draw), caption, buttons, cache_key)]

    return Later(picture)


async def settle(answers: Sequence[Answer], apology: Reply, again: Again) -> list[Reply]:
    """The replies to send: ``answers`` with the work left for after the commit done."""
    replies: list[Reply] = []
    for answer in answers:
        if not isinstance(answer, Later | PictureFirst):
            replies.append(answer)
            continue
        try:
            done = await (answer.work() if isinstance(answer, Later)
                          else again(await with_picture(answer.event)))
        except Exception:  # the event's own changes are committed: they stay
            log.exception("work after the commit failed: %s", what(answer))
            done = [] if apology in replies else [apology]  # one apology is enough
        replies.extend(done)
    return replies


def what(answer: Later | PictureFirst) -> str:
    """The work, for the log (not the event itself: it holds what a person typed)."""
    if isinstance(answer, Later):
        return getattr(answer.work, "__qualname__", repr(answer.work))
    return f"the picture of a {answer.event.user.channel} event"


async def with_picture(event: Event) -> Event:
    """The event with its picture's bytes in hand (None if there are none to be had), and
    without its platform id: it was claimed the first time round."""
    return replace(event, image=await event.picture(), fetch_image=None, event_id=None)
