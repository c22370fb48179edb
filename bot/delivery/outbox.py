"""The outbox sender: delivers the messages that transactions wrote into the ``outbox``
table, per channel, within the platform's rate limits.

A pass claims a small batch of due ``pending`` messages (``sending``, attempts + 1, a lease
until ``not_before`` = now + ``claim_lease_seconds``) and commits that *before* sending; each
result is committed on its own right after the send. So a crash can duplicate at most the
messages that were in flight (claimed, maybe sent, not yet marked ``sent``): once their
lease is over they go back to ``pending`` and are sent again. A message marked ``sent`` is
never sent again, and nothing committed is lost. The lease keeps a starting instance from
taking back what another live instance is sending; a live sender also takes back, now and
then, expired claims that are not its own (an instance that died, a lost result commit).

Outcomes: sent → ``sent``; the platform asks to wait (Telegram 429) → ``pending`` again
with ``not_before`` = now + retry_after exactly, and the whole channel pauses that long;
the person blocked the bot → ``blocked`` and their identity unreachable (the notifier
skips unreachable identities from then on); kept for a person who is away (a web visitor
with no page open, who sees it on coming back) → ``waiting``; the channel refuses the
message as it is (``Undeliverable``) → ``failed`` at once, with the reason; any other error → ``pending``
with a growing backoff, ``failed`` after ``MAX_ATTEMPTS``.

Rate limits: a claimed batch books its messages' turns on their channels' limits at once
(``Pace``, bot/delivery/pace.py): in this process's memory on SQLite, which serves one
process (``RateLimits`` below), and in the database on PostgreSQL, shared by the senders of
every process, so that any number of workers together keep to one limit and a platform's
pause holds them all. PostgreSQL rather than Redis: no second service to run and back up,
and the limits live next to the outbox rows they pace. A message whose turn is further away
than ``longest_wait`` is not held in its claim: the turn is given back and the message is
``pending`` again, due then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.channels import registry
from bot.channels.base import Channel, KeptForLater, RetryLater, Undeliverable, Unreachable
from bot.config import OutboxSettings
from bot.core.clock import Clock
from bot.core.lru import LruCache
from bot.core.metrics import Metrics, NoMetrics
from bot.core.replies import Picture, Reply, from_json
from bot.delivery.pace import Pace, Turn
from bot.storage.database import Sessions
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 20
MAX_BACKOFF = timedelta(minutes=10)


class TokenBucket:
    """``rate`` sends a second with bursts of ``capacity`` (1 by default: evenly spaced, so
    no one-second window ever sees more than the limit). ``reserve`` takes the tokens at
    once (the balance may go negative) and says how long to wait before using them, so
    callers that reserve in order are served in order."""

    def __init__(self, rate: float, capacity: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else 1.0
        self.monotonic = monotonic
        self.tokens = self.capacity
        self.updated = monotonic()

    def reserve(self, n: float = 1) -> float:
        now = self.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= n
        return max(0.0, -self.tokens / self.rate)

    def pause(self, seconds: float) -> None:
        """Nothing more for ``seconds`` (the platform said so)."""
        self.reserve(0)
        self.tokens = min(self.tokens, -seconds * self.rate)


BURST_SECONDS = 0.05


class RateLimits:
    """Per channel: one bucket for the whole channel and one per chat, which space the sends
    evenly, and the actual send times of the last second: a send that went out late pushes
    the next ones back instead of bunching up with them, and a small margin keeps network
    jitter from making ``rate`` + 1 arrive within one second. Channels without configured
    limits are not limited.

    Replies to people who just wrote come first: they are never held here (``replied``
    only counts them), the outbox uses at most ``1 − reply_share_percent`` of a channel's
    limit, and it also waits whenever its sends and the replies together would pass the
    whole limit. Counts are in API calls, as the channel says a message costs."""

    MARGIN = 0.03  # seconds added to the one-second window (about 3 %)

    def __init__(self, settings: OutboxSettings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rates = registry.rates(settings)
        self.share = settings.outbox_share
        self.monotonic = monotonic
        self._overall: dict[str, TokenBucket] = {}
        self._chats: dict[tuple[str, str], TokenBucket] = {}
        self._sent: dict[str, deque[float]] = {}  # the outbox's sends
        self._all: dict[str, deque[float]] = {}  # the outbox's and the replies
        self._paused_until: dict[str, float] = {}

    def reserve(self, channel: str, chat: str, n: int = 1) -> float:
        """Book a place in line; how long to wait before ``acquire``."""
        if channel not in self.rates:
            return 0.0
        _overall, per_chat = self.rates[channel]
        wait_chat = self._chat(channel, chat, per_chat).reserve(n)
        wait_all = self._channel(channel).reserve(n)
        return max(wait_chat, wait_all)

    def release(self, channel: str, chat: str, n: int = 1) -> None:
        """Give back a place booked by ``reserve`` that will not be used now."""
        if channel in self.rates:
            self._chat(channel, chat, self.rates[channel][1]).tokens += n
            self._channel(channel).tokens += n

    async def acquire(self, channel: str, sleep: Callable[[float], Awaitable[object]],
                      n: int = 1) -> float:
        """Right before ``n`` sends: 0 once they may go (and they are counted), or the
        seconds left of a pause the platform asked for (they should not go now)."""
        if channel not in self.rates:
            return 0.0
        whole = max(1, int(self.rates[channel][0]))
        mine = max(1, int(self.rates[channel][0] * self.share))
        n = min(n, mine)
        sent = self._sent.setdefault(channel, deque(maxlen=mine))
        every = self._all.setdefault(channel, deque(maxlen=whole))
        while True:
            now = self.monotonic()
            held = self.paused_for(channel)
            if held > 0:
                return held
            wait = max(self._window_wait(sent, mine, n, now), self._window_wait(every, whole, n, now))
            if wait <= 0:
                sent.extend([now] * n)  # no await between the check and the count
                every.extend([now] * n)
                return 0.0
            await sleep(wait)

    def _window_wait(self, window: deque[float], limit: int, n: int, now: float) -> float:
        """How long until ``n`` more fit into the last second's ``limit``."""
        last_to_leave = len(window) - (limit - n) - 1  # all but the newest limit - n must be gone
        return window[last_to_leave] + 1.0 + self.MARGIN - now if last_to_leave >= 0 else 0.0

    def replied(self, channel: str, n: int = 1) -> None:
        """``n`` API calls answering someone who just wrote: never held, but counted, so the
        outbox leaves room for them."""
        if channel in self.rates:
            whole = max(1, int(self.rates[channel][0]))
            self._all.setdefault(channel, deque(maxlen=whole)).extend([self.monotonic()] * n)

    def pause(self, channel: str, seconds: float) -> None:
        if channel in self.rates:
            self._channel(channel).pause(seconds)
            self._paused_until[channel] = max(self._paused_until.get(channel, 0.0),
                                              self.monotonic() + seconds)

    def paused_for(self, channel: str) -> float:
        """Seconds left of a pause the platform asked for (0: not paused)."""
        return max(0.0, self._paused_until.get(channel, 0.0) - self.monotonic())

    def _channel(self, channel: str) -> TokenBucket:
        if channel not in self._overall:
            rate = self.rates[channel][0] * self.share
            # a short burst makes up for a late send; the window in ``acquire`` caps the second
            self._overall[channel] = TokenBucket(rate, max(1.0, rate * BURST_SECONDS),
                                                 monotonic=self.monotonic)
        return self._overall[channel]

    def _chat(self, channel: str, chat: str, rate: float) -> TokenBucket:
        key = (channel, chat)
        bucket = self._chats.get(key)
        if bucket is None or len(self._chats) > 10_000:
            if len(self._chats) > 10_000:
                self._chats.clear()  # idle chats: a fresh bucket is a full one anyway
            bucket = self._chats[key] = TokenBucket(rate, monotonic=self.monotonic)
        return bucket


class LocalPace:
    """``Pace`` in this process's memory (``RateLimits``): enough when one process sends
    (SQLite)."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.share = limits.share

    async def reserve(self, turns: Sequence[Turn]) -> list[float]:
        return [self.limits.reserve(turn.channel, turn.chat, turn.calls) for turn in turns]

    async def release(self, turns: Sequence[Turn]) -> None:
        for turn in turns:
            self.limits.release(turn.channel, turn.chat, turn.calls)

    async def acquire(self, channel: str, sleep: Callable[[float], Awaitable[object]],
                      n: int = 1) -> float:
        return await self.limits.acquire(channel, sleep, n)

    def replied(self, channel: str, n: int = 1) -> None:
        self.limits.replied(channel, n)

    async def pause(self, channel: str, seconds: float) -> None:
        self.limits.pause(channel, seconds)

    def paused_for(self, channel: str) -> float:
        return self.limits.paused_for(channel)

    async def tidy(self) -> None:
        """Nothing to do: ``RateLimits`` bounds itself."""

    async def close(self) -> None:
        """Nothing is kept anywhere else."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one send; recorded with the rest of its batch."""

    message: Claimed
    status: str  # sent, pending (again), blocked, failed, waiting
    error: str | None = None
    attempts: int | None = None  # corrected count (a wait asked by the platform is no failure)
    after: timedelta | None = None  # pending again: not before now + after
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    channel: str
    external_id: str
    identity_id: int | None
    attempts: int
    replies: list[Reply]


class OutboxSender:
    def __init__(self, sessions: Sessions, channels: Mapping[str, Channel],
                 settings: OutboxSettings, clock: Clock, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 stored_images: Callable[[str], Awaitable[bytes | None]] | None = None,
                 metrics: Metrics | None = None, pace: Pace | None = None) -> None:
        self.sessions = sessions
        self.metrics = metrics or NoMetrics()
        self.channels = channels  # the composition root's registry (shared with the notifier)
        self.settings = settings
        self.clock = clock
        # the rate limits: this process's own unless shared by several (PostgreSQL)
        self.pace: Pace = pace or LocalPace(RateLimits(settings, monotonic))
        self.sleep = sleep
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        # the longest a claimed message may wait for its turn: a small part of the lease, so
        # a claim is never still held when another instance may take it back
        self.longest_wait = self.lease.total_seconds() / 4
        self.stored_images = stored_images  # a picture kept once for many messages (broadcasts)
        self._images: LruCache[str, bytes] = LruCache(8)
        self.monotonic = monotonic
        self._in_flight: set[int] = set()  # claimed by this sender, result not yet recorded
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._lock = asyncio.Lock()  # one pass at a time in this process

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Put back what a crash left in flight, then send in the background."""
        await self.recover()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        """Finish the pass in progress (its messages are marked) and stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def wake(self) -> None:
        """Something was just queued: look now rather than at the next poll."""
        self._wake.set()

    async def recover(self) -> int:
        """Claims whose lease is over and that are not this sender's own go back to
        ``pending`` (they may have been sent already: at most those are duplicated); the
        interrupted attempt does not count."""
        now = self.clock.now()
        async with UnitOfWork(self.sessions) as uow:
            count = await uow.outbox_messages.release_lapsed_claims(now, keeping=self._in_flight)
            await uow.commit()
        if count:
            log.warning("outbox: %d message(s) interrupted by a stop are pending again", count)
        return count

    async def _run(self) -> None:
        next_recovery = self.monotonic() + self.lease.total_seconds() / 2
        while not self._stopping:
            try:
                if self.monotonic() >= next_recovery:
                    next_recovery = self.monotonic() + self.lease.total_seconds() / 2
                    await self.recover()
                    await self.pace.tidy()
                await self.send_due()
                wait = await self._until_next_due()
            except Exception:  # the database may be away for a moment; keep going
                log.exception("outbox pass failed")
                wait = self.settings.poll_seconds
            if self._stopping:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _until_next_due(self) -> float:
        """Seconds until something can be sent: the nearest due message of a channel that is
        not paused, or the end of a pause (at most ``poll_seconds``)."""
        pauses = [held for name in self.channels if (held := self.pace.paused_for(name))]
        ready = self._ready_channels()
        nearest = None
        if ready:
            async with UnitOfWork(self.sessions) as uow:
                nearest = await uow.outbox_messages.nearest_due(ready)
        waits = [self.settings.poll_seconds, *pauses]
        if nearest is not None:
            if nearest.tzinfo is None:  # an aggregate bypasses the column type on SQLite
                nearest = nearest.replace(tzinfo=self.clock.now().tzinfo)
            waits.append((nearest - self.clock.now()).total_seconds())
        return max(0.0, min(waits))

    # --- one pass --------------------------------------------------------------------------

    async def send_due(self) -> int:
        """Send everything due now, batch by batch; returns how many were sent. Tests call
        this to flush the outbox synchronously."""
        sent = 0
        async with self._lock:
            while not self._stopping or self._task is None:
                batch = await self._claim()
                if not batch:
                    break
                sent += await self._deliver(batch)
        return sent

    async def _deliver(self, batch: list[Claimed]) -> int:
        try:
            turns = await self._take_turns(batch)
        except Exception:  # the shared limits can't be reached: the batch goes back, not held
            log.exception("outbox: can't take the batch's turns on the rate limits")
            turns = [self._later(message, self.settings.poll_seconds, "no turn on the rate limits")
                     for message in batch]
        outcomes = await asyncio.gather(*(self._send(message, turn)
                                          for message, turn in zip(batch, turns, strict=True)))
        await self._record(outcomes)
        for outcome in outcomes:
            if outcome.status == "sent":
                self.metrics.message_sent(outcome.message.channel)
        return sum(outcome.status == "sent" for outcome in outcomes)

    async def _claim(self) -> list[Claimed]:
        now = self.clock.now()
        async with UnitOfWork(self.sessions) as uow:
            ready = self._ready_channels()
            if not ready:
                return []
            rows = await uow.outbox_messages.due(now, ready, BATCH)
            claimed = []
            for row in rows:
                row.status = "sending"
                row.attempts += 1
                row.not_before = now + self.lease
                self._in_flight.add(row.id)
                claimed.append(Claimed(row.id, row.channel, row.external_id, row.identity_id,
                                       row.attempts, [from_json(item) for item in row.payload]))
            await uow.commit()
        return claimed

    def _ready_channels(self) -> list[str]:
        """The channels messages can go through now: not paused by their platform."""
        return [name for name in self.channels if not self.pace.paused_for(name)]

    def _calls(self, message: Claimed) -> int:
        """The API calls the message takes (what the rate limits count)."""
        channel = self.channels.get(message.channel)
        return channel.cost(message.replies) if isinstance(channel, Channel) else len(message.replies)

    async def _take_turns(self, batch: list[Claimed]) -> list[Outcome | float]:
        """The batch's places in line, booked at once: the seconds each message waits for
        its turn, or what becomes of it now: back to ``pending`` if its channel is paused
        (claimed before the pause began), or if its turn is further than ``longest_wait``
        (then the place is given back: a claim is never held across a wait this long)."""
        decided: list[Outcome | float] = []
        booking: list[tuple[int, Turn]] = []
        for n, message in enumerate(batch):
            if held := self.pace.paused_for(message.channel):
                decided.append(self._later(message, held, "the channel is paused"))
                continue
            decided.append(0.0)
            booking.append((n, Turn(message.channel, message.external_id, self._calls(message))))
        waits = await self.pace.reserve([turn for _, turn in booking])
        too_far = []
        for (n, turn), wait in zip(booking, waits, strict=True):
            if wait > self.longest_wait:
                too_far.append(turn)
                decided[n] = self._later(batch[n], wait, None)
            else:
                decided[n] = wait
        if too_far:
            await self.pace.release(too_far)
        return decided

    async def _send(self, message: Claimed, turn: Outcome | float) -> Outcome:
        if isinstance(turn, Outcome):
            return turn
        channel = self.channels.get(message.channel)
        calls = self._calls(message)
        if turn:
            await self.sleep(turn)
        if held := await self.pace.acquire(message.channel, self.sleep, calls):
            # the platform asked the channel to wait while this one was waiting its turn
            return self._later(message, held, "the channel is paused")
        try:
            if channel is None:
                raise LookupError(f"no channel {message.channel!r}")
            await channel.deliver(message.external_id, await self._with_images(message.replies),
                                  message_id=message.id)
        except RetryLater as later:
            self.metrics.retry_later(message.channel)
            await self.pace.pause(message.channel, later.seconds)
            return self._later(message, later.seconds, str(later))
        except Unreachable as gone:
            return Outcome(message, "blocked", error=str(gone) or "unreachable", unreachable=True)
        except KeptForLater as kept:  # the person sees it when they come back
            return Outcome(message, "waiting", error=str(kept) or None)
        except Undeliverable as refused:  # e.g. outside WhatsApp's 24-hour window, no template
            return Outcome(message, "failed", error=str(refused))
        except Exception as error:
            log.warning("outbox: message %d to %s:%s failed (attempt %d): %r", message.id,
                        message.channel, message.external_id, message.attempts, error)
            if message.attempts >= MAX_ATTEMPTS:
                return Outcome(message, "failed", error=repr(error))
            backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** message.attempts))
            return Outcome(message, "pending", error=repr(error), after=backoff)
        return Outcome(message, "sent")

    @staticmethod
    def _later(message: Claimed, seconds: float, why: str | None) -> Outcome:
        """Back to ``pending``, due in ``seconds``; not an attempt."""
        return Outcome(message, "pending", attempts=message.attempts - 1,
                       after=timedelta(seconds=seconds), error=why)

    async def _with_images(self, replies: list[Reply]) -> list[Reply]:
        """Pictures stored by reference get their bytes back (kept for the next few)."""
        resolved = []
        for reply in replies:
            if isinstance(reply, Picture) and reply.stored and not reply.image:
                image = self._images.get(reply.stored)
                if image is None and self.stored_images is not None:
                    image = await self.stored_images(reply.stored)
                if image is None:
                    raise LookupError(f"no stored picture {reply.stored!r}")
                self._images.put(reply.stored, image)
                reply = replace(reply, image=image)
            resolved.append(reply)
        return resolved

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        """The results of a batch in one transaction (the batch stays in flight until then)."""
        now = self.clock.now()
        try:
            async with UnitOfWork(self.sessions) as uow:
                sent = [o.message.id for o in outcomes if o.status == "sent"]
                if sent:
                    await uow.outbox_messages.mark_sent(sent, now)
                for outcome in outcomes:
                    if outcome.status != "sent":
                        await self._record_failure(uow, outcome, now)
                await uow.commit()
        finally:
            self._in_flight.difference_update(o.message.id for o in outcomes)

    @staticmethod
    async def _record_failure(uow: UnitOfWork, outcome: Outcome, now: datetime) -> None:
        message = outcome.message
        values: dict[str, object] = {"status": outcome.status,
                                     "error": outcome.error[:200] if outcome.error else None}
        if outcome.attempts is not None:
            values["attempts"] = outcome.attempts
        if outcome.after is not None:
            values["not_before"] = now + outcome.after
        await uow.outbox_messages.settle(message.id, **values)
        if outcome.unreachable and message.identity_id is not None:
            await uow.identities.mark_unreachable(message.identity_id)
            await uow.outbox_messages.block_pending_of(message.identity_id)
