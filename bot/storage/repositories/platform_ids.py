"""The ids a platform gave the messages the outbox sent (WhatsApp's wamids), kept while the
platform may still report a failure for them; the queries of the one table that names a
channel (bot/storage/models.py's WhatsAppSend)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import OutboxMessage, WhatsAppSend


class PlatformIds:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def remember(self, wamids: Sequence[str], message_id: int, now: datetime) -> None:
        """WhatsApp's ids of what outbox message ``message_id`` became."""
        self.session.add_all([WhatsAppSend(wamid=wamid, outbox_message_id=message_id,
                                           created_at=now) for wamid in wamids])

    async def sent_as(self, wamid: str) -> OutboxMessage | None:
        """The sent outbox message WhatsApp knows by ``wamid``."""
        stmt = (select(OutboxMessage)
                .join(WhatsAppSend, WhatsAppSend.outbox_message_id == OutboxMessage.id)
                .where(WhatsAppSend.wamid == wamid, OutboxMessage.status == "sent"))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def settle_failure(self, message_id: int, values: dict[str, Any]) -> None:
        """Set the message's columns to ``values`` and forget its WhatsApp ids: one answer
        per message."""
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                                   .values(**values))
        await self.session.execute(delete(WhatsAppSend).where(
            WhatsAppSend.outbox_message_id == message_id))

    async def forget_older_than(self, moment: datetime) -> None:
        await self.session.execute(delete(WhatsAppSend).where(WhatsAppSend.created_at < moment))
