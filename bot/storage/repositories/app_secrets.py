"""Secrets the installation makes once and keeps (bot/core/keys.py)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import AppSecret
from bot.storage.repositories._sql import insert_ignoring_duplicates


class Secrets:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(self, name: str, generate: Callable[[], str]) -> str:
        await self.session.execute(
            insert_ignoring_duplicates(self.session, AppSecret).values(name=name, value=generate())
        )
        stmt = select(AppSecret.value).where(AppSecret.name == name)
        return (await self.session.execute(stmt)).scalar_one()

    async def get(self, name: str) -> str | None:
        """The secret, without creating it (None: never made)."""
        row = await self.session.get(AppSecret, name)
        return row.value if row is not None else None
