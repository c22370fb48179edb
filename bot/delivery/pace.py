"""Where each send takes its turn on its channel's rate limits (``Pace``): in this process's
memory when one process sends (SQLite; ``LocalPace`` over ``RateLimits``, bot/delivery/
outbox.py), or in the database, shared by every process that sends (PostgreSQL;
``SharedPace`` here).

``SharedPace`` keeps, per channel and per chat of a channel, the next free moment to send (a
GCRA: each send moves it on by its cost over the rate, from now if it is past) and a
channel's pause. A claimed batch takes the turns of all its messages in one statement
(bot/storage/repositories/pace.py), timed by the database's clock, and each message then
waits the seconds the database named, whichever process it is in. The channel's share of
the outbox (``reply_share_percent``) is taken off its rate, and the turns are spaced a little
wider than the rate (``MARGIN``) so that the jitter between processes never puts one more
send into a second; and within a process its own sends of the last second stay within the
share, as in memory (a late send pushes the next ones back rather than bunch up with them).

A platform's "wait N seconds" is stored: the channel's next free moment moves past it for
everyone, and the sends already waiting their turn in any process learn of it within
``REFRESH``. Replies to people who just wrote are never held; a process counts them
for ``GATHER`` and then moves the channel's next free moment on by them, so the outbox gives
way when they crowd the limit. Rows whose moments are past hold nothing back and are deleted
(``tidy``, by each sender every minute or so).

Chosen over Redis: no second service to run and back up, and the limits live next to the
outbox rows they pace."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.channels import registry
from bot.config import OutboxSettings
from bot.storage.database import Sessions
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (channel, chat); chat "" is the whole channel


@dataclass(frozen=True, slots=True)
class Turn:
    """One send: ``calls`` API calls to ``chat`` through ``channel``."""

    channel: str
    chat: str
    calls: int = 1


class Pace(Protocol):
    share: float  # the part of each channel's limit the outbox uses (the rest is for replies)

    async def reserve(self, turns: Sequence[Turn]) -> list[float]:
        """Book these sends' places in line, in order; the seconds each waits before
        ``acquire``."""

    async def release(self, turns: Sequence[Turn]) -> None:
        """Give back places booked by ``reserve`` that will not be used now."""

    async def acquire(self, channel: str, sleep: Callable[[float], Awaitable[object]],
                      n: int = 1) -> float:
        """Right before ``n`` sends: 0 once they may go, or the seconds left of a pause the
        platform asked for (they should not go now)."""

    def replied(self, channel: str, n: int = 1) -> None:
        """``n`` API calls answering someone who just wrote: never held, but counted."""

    async def pause(self, channel: str, seconds: float) -> None:
        """Nothing more through ``channel`` for ``seconds`` (the platform said so)."""

    def paused_for(self, channel: str) -> float:
        """Seconds left of a pause the platform asked for (0: not paused)."""

    async def tidy(self) -> None:
        """Forget what holds nothing back any more."""

    async def close(self) -> None:
        """Count what is still only counted here."""


class SharedPace:
    """``Pace`` in the database, shared by every process (PostgreSQL)."""

    MARGIN = 0.03  # turns are spaced this much wider than the rate (jitter between processes)
    REFRESH = 0.2  # seconds a send trusts the pauses it knows before asking the database
    GATHER = 0.1  # seconds replies are counted here before they are written, together
    # a sender that fell behind (its claim and record between batches) makes up this much;
    # less than MARGIN of a second, so that no second ever gets one send more
    CATCH_UP = 0.02

    def __init__(self, sessions: Sessions, settings: OutboxSettings,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.rates = registry.rates(settings)
        self.share = settings.outbox_share
        self.monotonic = monotonic
        self._paused_until: dict[str, float] = {}  # on ``monotonic``
        self._checked = -math.inf  # when the pauses were last read
        self._checking = asyncio.Lock()
        self._replies: Counter[str] = Counter()
        self._sent: dict[str, deque[float]] = {}  # this process's sends of the last second
        self._writing_replies: asyncio.Task[None] | None = None

    def _steps(self, turn: Turn) -> Iterator[tuple[Key, float]]:
        """The keys a send moves on, and by how many seconds."""
        overall, per_chat = self.rates[turn.channel]
        spacing = turn.calls * (1 + self.MARGIN)
        yield (turn.channel, ""), spacing / (overall * self.share)
        yield (turn.channel, turn.chat), spacing / per_chat

    def _line_up(self, turns: Sequence[Turn]) -> tuple[dict[Key, float], list[list[tuple[Key, float]]]]:
        """Each key's whole step, and each turn's keys with its offset among the turns on
        the same key before it."""
        totals: dict[Key, float] = {}
        places: list[list[tuple[Key, float]]] = []
        for turn in turns:
            place = []
            if turn.channel in self.rates:
                for key, step in self._steps(turn):
                    place.append((key, totals.get(key, 0.0)))
                    totals[key] = totals.get(key, 0.0) + step
            places.append(place)
        return totals, places

    async def reserve(self, turns: Sequence[Turn]) -> list[float]:
        totals, places = self._line_up(turns)
        if not totals:
            return [0.0] * len(turns)
        async with UnitOfWork(self.sessions) as uow:
            booked = await uow.pace.reserve(totals, late=self.CATCH_UP)
            await uow.commit()
        self._learn(booked.paused, [channel for channel, chat in totals if not chat])
        # a channel without limits (the web chat, the wallet) has no keys: it goes at once
        return [max([0.0, *(booked.starts[key] + offset for key, offset in place)])
                for place in places]

    async def release(self, turns: Sequence[Turn]) -> None:
        totals, _places = self._line_up(turns)
        if totals:
            async with UnitOfWork(self.sessions) as uow:
                await uow.pace.give_back(totals)
                await uow.commit()

    async def acquire(self, channel: str, sleep: Callable[[float], Awaitable[object]],
                      n: int = 1) -> float:
        if channel not in self.rates:
            return 0.0
        if self.monotonic() - self._checked >= self.REFRESH:
            async with self._checking:  # one read for all the sends due meanwhile
                if self.monotonic() - self._checked >= self.REFRESH:
                    await self._read_pauses()
        while True:
            if held := self.paused_for(channel):
                return held
            wait = self._own_window_wait(channel, n)
            if wait <= 0:
                return 0.0
            await sleep(wait)

    def _own_window_wait(self, channel: str, n: int) -> float:
        """How long until ``n`` more of this process's own sends fit into the last second's
        share (as ``RateLimits`` keeps them): a send that went out late, its process busy,
        pushes the next ones back instead of bunching up with them. 0: they are counted."""
        mine = max(1, int(self.rates[channel][0] * self.share))
        sent = self._sent.setdefault(channel, deque(maxlen=mine))
        n, now = min(n, mine), self.monotonic()
        last_to_leave = len(sent) - (mine - n) - 1  # all but the newest mine - n must be gone
        if last_to_leave >= 0 and (wait := sent[last_to_leave] + 1.0 + self.MARGIN - now) > 0:
            return wait
        sent.extend([now] * n)
        return 0.0

    async def _read_pauses(self) -> None:
        try:
            async with UnitOfWork(self.sessions) as uow:
                paused = await uow.pace.pauses(list(self.rates))
        except Exception as error:  # the database away for a moment: go by what is known
            log.warning("outbox: can't read the channels' pauses (%s: %s)", type(error).__name__, error)
            return
        self._learn(paused, list(self.rates))

    def _learn(self, paused: dict[str, float], channels: Sequence[str]) -> None:
        now = self.monotonic()
        for channel in channels:
            self._paused_until[channel] = now + paused.get(channel, 0.0)
        if set(channels) >= set(self.rates):
            self._checked = now

    def replied(self, channel: str, n: int = 1) -> None:
        if channel not in self.rates:
            return
        self._replies[channel] += n
        if self._writing_replies is None or self._writing_replies.done():
            self._writing_replies = asyncio.create_task(self._write_replies(self.GATHER))

    async def _write_replies(self, after: float) -> None:
        await asyncio.sleep(after)
        counted, self._replies = self._replies, Counter()
        spans = {(channel, ""): n * (1 + self.MARGIN) / self.rates[channel][0]
                 for channel, n in counted.items()}
        try:
            async with UnitOfWork(self.sessions) as uow:
                await uow.pace.reserve(spans)
                await uow.commit()
        except Exception as error:  # not counted: the outbox may crowd the replies a moment
            log.warning("outbox: can't count %d replies in the rate limits (%s: %s)",
                        sum(counted.values()), type(error).__name__, error)

    async def pause(self, channel: str, seconds: float) -> None:
        if channel not in self.rates:
            return
        self._paused_until[channel] = max(self._paused_until.get(channel, 0.0),
                                          self.monotonic() + seconds)
        try:
            async with UnitOfWork(self.sessions) as uow:
                left = await uow.pace.pause(channel, seconds)
                await uow.commit()
        except Exception as error:  # this process still pauses; the others meet the 429 too
            log.warning("outbox: can't store the pause of %s (%s: %s)", channel,
                        type(error).__name__, error)
            return
        self._paused_until[channel] = self.monotonic() + left

    def paused_for(self, channel: str) -> float:
        return max(0.0, self._paused_until.get(channel, 0.0) - self.monotonic())

    async def tidy(self) -> None:
        async with UnitOfWork(self.sessions) as uow:
            await uow.pace.prune()
            await uow.commit()

    async def close(self) -> None:
        if self._writing_replies is not None:
            await asyncio.gather(self._writing_replies, return_exceptions=True)
        if self._replies:
            await self._write_replies(0)
