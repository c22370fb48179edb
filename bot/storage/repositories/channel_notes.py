"""What channel adapters keep between messages, shared by every process (bot/storage/
models.py's ChannelNote): a value by (channel, key) with the moment it expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ChannelNote
from bot.storage.repositories._sql import upsert


class Note(NamedTuple):
    value: Any
    until: datetime


class ChannelNotes:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def read(self, channel: str, key: str, now: datetime) -> Note | None:
        """The note, None when there is none or it has expired."""
        stmt = select(ChannelNote.value, ChannelNote.expires_at).where(
            ChannelNote.channel == channel, ChannelNote.key == key, ChannelNote.expires_at > now)
        row = (await self.session.execute(stmt)).one_or_none()
        return Note(row.value, row.expires_at) if row is not None else None

    async def take(self, channel: str, key: str, now: datetime) -> Note | None:
        """The note (None: none, or expired), forgotten by the same statement."""
        stmt = (delete(ChannelNote).where(ChannelNote.channel == channel, ChannelNote.key == key)
                .returning(ChannelNote.value, ChannelNote.expires_at))
        row = (await self.session.execute(stmt)).one_or_none()
        return Note(row.value, row.expires_at) if row is not None and row.expires_at > now else None

    async def keep(self, channel: str, key: str, value: Any, until: datetime) -> None:
        """Note ``value`` (JSON, not None) under the key until ``until``, replacing the one before."""
        await self.session.execute(upsert(
            self.session, ChannelNote,
            {"channel": channel, "key": key, "value": value, "expires_at": until},
            keys=("channel", "key"), update=("value", "expires_at")))

    async def forget_expired(self, now: datetime) -> None:
        await self.session.execute(delete(ChannelNote).where(ChannelNote.expires_at <= now))
