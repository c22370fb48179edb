"""The web chat's conversation, kept so a visitor who comes back sees it (bot/channels/web.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Identity, WebMessage


class ShownMessage(NamedTuple):
    id: int
    author: str
    body: dict


class WebMessages:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def forget_older_than(self, moment: datetime) -> None:
        await self.session.execute(delete(WebMessage).where(WebMessage.created_at < moment))

    async def latest(self, channel: str, visitor: str, limit: int) -> list[ShownMessage]:
        """The visitor's latest messages, newest first."""
        stmt = (select(WebMessage.id, WebMessage.author, WebMessage.body)
                .join(Identity, Identity.id == WebMessage.identity_id)
                .where(Identity.channel == channel, Identity.external_id == visitor)
                .order_by(WebMessage.id.desc()).limit(limit))
        return [ShownMessage(*row) for row in (await self.session.execute(stmt)).all()]

    async def add(self, identity_id: int, messages: Sequence[tuple[str, dict]],
                  now: datetime) -> list[int]:
        """Keep (author, body) messages in this order; their ids."""
        rows = [WebMessage(identity_id=identity_id, author=author, body=body, created_at=now)
                for author, body in messages]
        self.session.add_all(rows)
        await self.session.flush()
        return [row.id for row in rows]
