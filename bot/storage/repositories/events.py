"""Inbound events already handled (a channel may deliver one twice)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ProcessedEvent
from bot.storage.session import plain


class ProcessedEvents:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, channel: str, event_id: str, now: datetime) -> bool:
        """Record the event as handled; False when it already was."""
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        result = await plain(self.session, _claim(dialect), {
            "channel": channel, "event_id": event_id, "processed_at": now})
        return result.rowcount == 1

    async def forget_older_than(self, moment: datetime) -> None:
        """Forget the events handled before ``moment`` (no channel redelivers them by now)."""
        await self.session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < moment))


@functools.cache
def _claim(dialect: str) -> Any:
    """``ProcessedEvents.claim``'s insert, built once per dialect: every event runs it."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        ProcessedEvent).on_conflict_do_nothing()
