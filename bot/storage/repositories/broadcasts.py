"""Broadcasts as /broadcast sees them: a draft being written, one by its id, the latest sent.
(Their recipients and sending: bot/marketing/broadcasts.py.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Broadcast


class Broadcasts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id)

    async def new_draft(self, author_identity_id: int, now: datetime) -> Broadcast:
        draft = Broadcast(author_identity_id=author_identity_id, status="draft", text="",
                          audience=0, created_at=now)
        self.session.add(draft)
        await self.session.flush()
        return draft

    async def latest_sent(self) -> Broadcast | None:
        """The latest broadcast confirmed for sending (it may be going out still, or stopped)."""
        stmt = (select(Broadcast).where(Broadcast.status != "draft", Broadcast.confirmed_at.is_not(None))
                .order_by(Broadcast.id.desc()).limit(1))
        return (await self.session.execute(stmt)).scalar_one_or_none()
