"""Pairs of cards with one phone, put to the admins (bot/loyalty/phones.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Customer, SharedPhone
from bot.storage.repositories._sql import insert_ignoring_duplicates


class SharedPhones:
    """Pairs of cards with one phone, verified on one, typed on the other."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ask(self, verified: Customer, typed: Customer, now: datetime) -> SharedPhone | None:
        """Record the pair as put to the admins; None when it already was."""
        stmt = (insert_ignoring_duplicates(self.session, SharedPhone)
                .values(verified_customer_id=verified.id, typed_customer_id=typed.id,
                        typed_card_number=typed.card_number, status="open", created_at=now)
                .returning(SharedPhone.id))
        pair_id = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if pair_id is None else await self.session.get(SharedPhone, pair_id)

    async def lock(self, pair_id: int) -> SharedPhone | None:
        """The pair, row-locked and re-read (two admins tapping at once decide once)."""
        await self.session.flush()
        stmt = (select(SharedPhone).where(SharedPhone.id == pair_id).with_for_update()
                .execution_options(populate_existing=True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def merged(self, *, customer_id: int | None = None,
                     card_number: str | None = None) -> SharedPhone | None:
        """The merge that deleted this card (by its old id or number), if one did."""
        stmt = select(SharedPhone).where(SharedPhone.status == "merged")
        if customer_id is not None:
            stmt = stmt.where(SharedPhone.typed_customer_id == customer_id)
        if card_number is not None:
            stmt = stmt.where(SharedPhone.typed_card_number == card_number)
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()

    async def keep_apart(self, pair_id: int, by: int, at: datetime) -> None:
        """The admins decided the two cards are not one person's: never asked again."""
        pair = await self.session.get_one(SharedPhone, pair_id)
        pair.status, pair.decided_at, pair.decided_by = "apart", at, by
