"""The web chat's conversation, kept so a visitor who comes back sees it (bot/channels/web.py);
on PostgreSQL also the word to the other processes that a visitor has new messages, and
whether any process has a page of theirs open (bot/storage/listener.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.listener import PRESENCE_LOCKS
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

    async def these(self, channel: str, visitor: str, ids: Sequence[int]) -> list[ShownMessage]:
        """The visitor's messages of ``ids`` (others' are not), oldest first."""
        stmt = (select(WebMessage.id, WebMessage.author, WebMessage.body)
                .join(Identity, Identity.id == WebMessage.identity_id)
                .where(Identity.channel == channel, Identity.external_id == visitor,
                       WebMessage.id.in_(list(ids)))
                .order_by(WebMessage.id))
        return [ShownMessage(*row) for row in (await self.session.execute(stmt)).all()]

    def _shared(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def announce(self, channel: str, payload: str) -> None:
        """NOTIFY the listeners of ``channel`` when this transaction commits (PostgreSQL;
        one process on SQLite has nobody to tell)."""
        if self._shared():
            await self.session.execute(text("SELECT pg_notify(:channel, :payload)"),
                                       {"channel": channel, "payload": payload})

    async def page_open_anywhere(self, key: int) -> bool:
        """Whether some process holds the presence lock ``key`` (PostgreSQL; False on SQLite,
        where the one process knows its pages itself). pg_locks, not a lock attempt: two
        processes asking at once must not see each other as the visitor's page."""
        if not self._shared():
            return False
        return bool(await self.session.scalar(text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = CAST(:space AS oid) AND objid = CAST(:key AS oid) AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"),
            {"space": PRESENCE_LOCKS, "key": key & 0xFFFFFFFF}))

    async def add(self, identity_id: int, messages: Sequence[tuple[str, dict]],
                  now: datetime) -> list[int]:
        """Keep (author, body) messages in this order; their ids."""
        rows = [WebMessage(identity_id=identity_id, author=author, body=body, created_at=now)
                for author, body in messages]
        self.session.add_all(rows)
        await self.session.flush()
        return [row.id for row in rows]
