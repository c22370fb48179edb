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

    # --- the draft being written (each reads it from the session: no SQL) -------------------

    async def _draft(self, draft_id: int) -> Broadcast:
        draft = await self.session.get(Broadcast, draft_id)
        if draft is None:
            raise LookupError(f"broadcast {draft_id} is gone")
        return draft

    async def set_text(self, draft_id: int, text: str) -> None:
        (await self._draft(draft_id)).text = text

    async def set_image(self, draft_id: int, image: bytes) -> None:
        (await self._draft(draft_id)).image = image

    async def set_button(self, draft_id: int, label: str, url: str) -> None:
        draft = await self._draft(draft_id)
        draft.button_label, draft.button_url = label, url

    async def set_segment(self, draft_id: int, segment: str | None) -> None:
        """The audience; a test sent to another one no longer counts."""
        draft = await self._draft(draft_id)
        draft.segment, draft.tested_at = segment, None

    async def mark_tested(self, draft_id: int, at: datetime) -> None:
        (await self._draft(draft_id)).tested_at = at
