"""Inbound events already handled (a channel may deliver one twice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ProcessedEvent
from bot.storage.repositories._sql import insert_ignoring_duplicates


class ProcessedEvents:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, channel: str, event_id: str, now: datetime) -> bool:
        """Record the event as handled; False when it already was."""
        stmt = insert_ignoring_duplicates(self.session, ProcessedEvent).values(
            channel=channel, event_id=event_id, processed_at=now
        )
        result = cast("CursorResult[Any]", await self.session.execute(stmt))  # an INSERT's result
        return result.rowcount == 1

    async def forget_older_than(self, moment: datetime) -> None:
        """Forget the events handled before ``moment`` (no channel redelivers them by now)."""
        await self.session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < moment))
