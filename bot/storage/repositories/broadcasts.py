"""Broadcasts as /broadcast sees them: a draft being written, one by its id, the latest sent;
one locked while it changes, its picture, a recipient's unsubscribe. (The recipients as a
set, their sending and the report: bot/marketing/broadcasts.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Broadcast, BroadcastRecipient


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

    async def locked(self, broadcast_id: int) -> Broadcast | None:
        """The broadcast as it is now, its row locked until the end of the transaction on
        PostgreSQL (SQLite serializes writers anyway): a confirmation, a stop and a batch
        being written never interleave."""
        stmt = (select(Broadcast).where(Broadcast.id == broadcast_id)
                .execution_options(populate_existing=True))
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def image_of(self, broadcast_id: int) -> bytes | None:
        return (await self.session.execute(
            select(Broadcast.image).where(Broadcast.id == broadcast_id))).scalar_one_or_none()

    async def mark_unsubscribed(self, broadcast_id: int, customer_id: int, at: datetime) -> bool:
        """Mark the recipient of the broadcast unsubscribed with its button, unless they
        were already or it was never written to them. Whether it marked."""
        result = cast("CursorResult[Any]", await self.session.execute(
            update(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast_id,
                   BroadcastRecipient.customer_id == customer_id,
                   BroadcastRecipient.outbox_message_id.is_not(None),
                   BroadcastRecipient.unsubscribed_at.is_(None))
            .values(unsubscribed_at=at).execution_options(synchronize_session=False)))
        return bool(result.rowcount)

    # --- the draft being written (each reads it from the session: no SQL) -------------------

    async def set_text(self, draft_id: int, text: str) -> None:
        (await self.session.get_one(Broadcast, draft_id)).text = text

    async def set_image(self, draft_id: int, image: bytes) -> None:
        (await self.session.get_one(Broadcast, draft_id)).image = image

    async def set_button(self, draft_id: int, label: str, url: str) -> None:
        draft = await self.session.get_one(Broadcast, draft_id)
        draft.button_label, draft.button_url = label, url

    async def set_segment(self, draft_id: int, segment: str | None) -> None:
        """The audience; a test sent to another one no longer counts."""
        draft = await self.session.get_one(Broadcast, draft_id)
        draft.segment, draft.tested_at = segment, None

    async def mark_tested(self, draft_id: int, at: datetime) -> None:
        (await self.session.get_one(Broadcast, draft_id)).tested_at = at
