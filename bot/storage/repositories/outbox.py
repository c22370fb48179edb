"""Outbox messages as the channels settle them: a web visitor's waiting ones on their return.
(Sending: bot/delivery/outbox.py; a failure reported after the send: platform_ids.py.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import OutboxMessage


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

    def add(self, message: OutboxMessage) -> None:
        """Queue the message (written at the next flush)."""
        self.session.add(message)
