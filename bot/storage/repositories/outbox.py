"""Outbox messages: queued by the notifier, claimed and settled by the sender
(bot/delivery/outbox.py), a web visitor's waiting ones delivered on their return (a failure
reported after the send: platform_ids.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Identity, OutboxMessage
from bot.storage.repositories._sql import IN_CHUNK

# outbox states of a message that reaches its person (a web visitor's when they come back)
RECEIVING = ("pending", "sending", "sent", "waiting")
# outbox states of a message still to go
QUEUED = ("pending", "sending", "waiting")


class OutboxMessages:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def deliver_waiting(self, channel: str, external_id: str, now: datetime) -> None:
        """The messages waiting for this person to come back count as sent now."""
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.channel == channel,
                                        OutboxMessage.external_id == external_id,
                                        OutboxMessage.status == "waiting")
            .values(status="sent", sent_at=now))

    async def queue_depth(self) -> dict[tuple[str, str], int]:
        """Messages still to go, per (channel, status): ``pending``, ``sending`` and
        ``waiting`` (``ix_outbox_due`` leads with the status, so the sent ones, the bulk of
        the table, are not read)."""
        rows = await self.session.execute(
            select(OutboxMessage.channel, OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_(QUEUED))
            .group_by(OutboxMessage.channel, OutboxMessage.status))
        return {(channel, status): count for channel, status, count in rows.all()}

    def add(self, message: OutboxMessage) -> None:
        """Queue the message (written at the next flush)."""
        self.session.add(message)

    async def release_lapsed_claims(self, now: datetime, keeping: Collection[int]) -> int:
        """Claims whose lease is over, but those ``keeping``, go back to ``pending`` (the
        interrupted attempt does not count); returns how many."""
        result = cast("CursorResult[Any]", await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.not_before <= now,
                   OutboxMessage.id.not_in(list(keeping)))
            .values(status="pending", not_before=now,
                    attempts=OutboxMessage.attempts - 1)))  # a claim counted one
        return result.rowcount or 0

    async def nearest_due(self, channels: Collection[str]) -> datetime | None:
        """When the first pending message of these channels is due."""
        return (await self.session.execute(
            select(func.min(OutboxMessage.not_before))
            .where(OutboxMessage.status == "pending",
                   OutboxMessage.channel.in_(channels)))).scalar_one()

    async def due(self, now: datetime, channels: Collection[str], limit: int
                  ) -> Sequence[OutboxMessage]:
        """The pending messages of these channels due by ``now``, oldest first; on PostgreSQL
        locked, skipping those another sender holds."""
        stmt = (select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now,
                       OutboxMessage.channel.in_(channels))
                .order_by(OutboxMessage.not_before, OutboxMessage.id).limit(limit))
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await self.session.execute(stmt)).scalars())

    async def mark_sent(self, message_ids: Collection[int], now: datetime) -> None:
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
            .values(status="sent", sent_at=now, error=None))

    async def settle(self, message_id: int, **values: object) -> None:
        """Record how an attempt ended (status, error, attempts, not_before)."""
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))

    async def block_pending_of(self, identity_id: int) -> None:
        """The identity can't be reached: the rest of its queue will not get through either."""
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.identity_id == identity_id,
                                        OutboxMessage.status == "pending")
            .values(status="blocked", error="unreachable"))

    async def marketing_arriving(self, customer_ids: Sequence[int], start: datetime,
                                 end: datetime) -> dict[int, int]:
        """Marketing messages each customer receives between ``start`` and ``end``: sent
        then, or waiting in the outbox to go then (those with none are left out)."""
        arrives = func.coalesce(OutboxMessage.sent_at, OutboxMessage.not_before)
        found: dict[int, int] = {}
        for first in range(0, len(customer_ids), IN_CHUNK):
            stmt = (select(Identity.customer_id, func.count()).select_from(OutboxMessage)
                    .join(Identity, Identity.id == OutboxMessage.identity_id)
                    .where(Identity.customer_id.in_(customer_ids[first:first + IN_CHUNK]),
                           OutboxMessage.category == "marketing",
                           OutboxMessage.status.in_(RECEIVING),
                           arrives >= start, arrives < end)
                    .group_by(Identity.customer_id))
            found.update((customer_id, n) for customer_id, n
                         in (await self.session.execute(stmt)).all()
                         if customer_id is not None)  # never None (the IN list); for the types
        return found
