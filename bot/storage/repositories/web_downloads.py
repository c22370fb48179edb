"""Files offered to web chat visitors as download links, until they expire (bot/channels/web.py)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import WebDownload


class Download(NamedTuple):
    filename: str
    content: bytes


class WebDownloads:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, token_hash: str, visitor: str, filename: str, content: bytes,
            now: datetime, expires_at: datetime) -> None:
        self.session.add(WebDownload(token_hash=token_hash, visitor=visitor,
                                     filename=filename, content=content, created_at=now,
                                     expires_at=expires_at))

    async def of(self, token_hash: str, visitor: str, now: datetime) -> Download | None:
        """The file behind the token if it is this visitor's and has not expired."""
        row = (await self.session.execute(
            select(WebDownload.filename, WebDownload.content)
            .where(WebDownload.token_hash == token_hash, WebDownload.visitor == visitor,
                   WebDownload.expires_at > now))).first()
        return Download(*row) if row is not None else None

    async def forget_expired(self, now: datetime) -> None:
        await self.session.execute(delete(WebDownload).where(WebDownload.expires_at <= now))
