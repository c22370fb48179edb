"""The outbox's rate limits shared by every process, on PostgreSQL (bot/delivery/pace.py):
for each key — a channel ``(channel, "")`` or one chat of it ``(channel, chat)`` — the next
free moment to send, and for a channel the end of a pause its platform asked for. Every
statement reads and moves them in one go, timed by the database's clock (``now()``, the
start of its own short transaction), so all processes count on one clock.

Keys are always written in one order (sorted), so that two statements locking several rows
never wait for each other in a cycle."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ARRAY, Float, String, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import OutboxPace

Key = tuple[str, str]  # (channel, chat); chat "" is the whole channel


@dataclass(frozen=True, slots=True)
class Booked:
    """What a reservation found, in seconds from the database's now: for each key when its
    reservation starts (its next free moment before the move; 0 if that was past), and for
    each channel the rest of a pause its platform asked for (0: none)."""

    starts: dict[Key, float]
    paused: dict[str, float]


# A next free moment further back than ``late`` seconds counts from then: a sender that was
# late makes up that much. The step is what the inserted row is ahead of that moment; the
# new next free moments are returned in seconds from now.
RESERVE = text("""
    INSERT INTO outbox_pace AS pace (channel, chat, next_at)
    SELECT channel, chat, now() - make_interval(secs => :late) + make_interval(secs => step)
    FROM unnest(:channels, :chats, :steps) WITH ORDINALITY AS wanted(channel, chat, step, n)
    ORDER BY n
    ON CONFLICT (channel, chat) DO UPDATE
    SET next_at = GREATEST(pace.next_at, now() - make_interval(secs => :late))
                  + (EXCLUDED.next_at - (now() - make_interval(secs => :late)))
    RETURNING channel, chat, EXTRACT(EPOCH FROM next_at - now())::float8,
              EXTRACT(EPOCH FROM paused_until - now())::float8
""").bindparams(bindparam("channels", type_=ARRAY(String)), bindparam("chats", type_=ARRAY(String)),
                bindparam("steps", type_=ARRAY(Float)), bindparam("late", type_=Float))


class PaceRows:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def reserve(self, steps: Mapping[Key, float], late: float = 0.0) -> Booked:
        """Move each key's next free moment on by its step (seconds), from ``late`` seconds
        ago at the earliest: one ``INSERT … ON CONFLICT DO UPDATE`` for every key at once,
        the keys as arrays (one prepared statement whatever their number). A reservation may
        start up to ``late`` seconds ago (go now)."""
        keys = sorted(steps)
        found = (await self.session.execute(RESERVE, {
            "channels": [channel for channel, _ in keys], "chats": [chat for _, chat in keys],
            "steps": [steps[key] for key in keys], "late": late})).all()
        return Booked({(c, k): ahead - steps[c, k] for c, k, ahead, _ in found},
                      {c: max(0.0, paused) for c, k, _, paused in found
                       if not k and paused is not None})

    async def give_back(self, steps: Mapping[Key, float]) -> None:
        """Undo reservations that will not be used now (rare: a wait too long to hold)."""
        for channel, chat in sorted(steps):
            await self.session.execute(
                update(OutboxPace).where(OutboxPace.channel == channel, OutboxPace.chat == chat)
                .values(next_at=OutboxPace.next_at - func.make_interval(
                    0, 0, 0, 0, 0, 0, steps[channel, chat])))

    async def pause(self, channel: str, wait: float) -> float:
        """Nothing more through ``channel`` for ``wait`` seconds: its pause and its next free
        moment move to then at least. Returns the seconds the pause lasts from now."""
        until = func.now() + timedelta(seconds=wait)
        row = insert(OutboxPace).values(channel=channel, chat="", next_at=until, paused_until=until)
        stmt = row.on_conflict_do_update(
            index_elements=[OutboxPace.channel, OutboxPace.chat],
            set_={"next_at": func.greatest(OutboxPace.next_at, row.excluded.next_at),
                  "paused_until": func.greatest(OutboxPace.paused_until, row.excluded.paused_until)},
        ).returning(OutboxPace.paused_until - func.now())
        return seconds((await self.session.execute(stmt)).scalar_one())

    async def pauses(self, channels: Collection[str]) -> dict[str, float]:
        """The seconds left of these channels' pauses still running."""
        rows = await self.session.execute(
            select(OutboxPace.channel, OutboxPace.paused_until - func.now())
            .where(OutboxPace.channel.in_(channels), OutboxPace.chat == "",
                   OutboxPace.paused_until > func.now()))
        return {channel: seconds(left) for channel, left in rows.all()}

    async def prune(self) -> int:
        """Delete the rows whose moments are all past (they hold nothing back any more)."""
        result = await self.session.execute(
            delete(OutboxPace).where(OutboxPace.next_at < func.now(), or_(
                OutboxPace.paused_until.is_(None), OutboxPace.paused_until < func.now())))
        return int(getattr(result, "rowcount", 0) or 0)


def seconds(span: object) -> float:
    """A span the database computed (an interval) in seconds."""
    assert isinstance(span, timedelta), span
    return span.total_seconds()
