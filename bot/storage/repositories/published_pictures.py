"""The pictures served under signed links (bot/channels/media.py), by their content hash,
shared by every web process."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import PublishedPicture
from bot.storage.repositories._sql import upsert


class Kept(NamedTuple):
    image: bytes
    until: datetime


class PublishedPictures:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, name: str) -> Kept | None:
        stmt = select(PublishedPicture.image, PublishedPicture.expires_at).where(
            PublishedPicture.name == name)
        row = (await self.session.execute(stmt)).one_or_none()
        return Kept(row.image, row.expires_at) if row is not None else None

    async def keep(self, name: str, image: bytes, until: datetime) -> None:
        """Kept until ``until`` (the same name is the same image: only the moment changes)."""
        await self.session.execute(upsert(
            self.session, PublishedPicture, {"name": name, "image": image, "expires_at": until},
            keys=("name",), update=("expires_at",)))

    async def forget_expired(self, now: datetime) -> None:
        await self.session.execute(delete(PublishedPicture).where(PublishedPicture.expires_at <= now))
