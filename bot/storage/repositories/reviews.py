"""Ratings of purchases (bot/handlers/feedback.py) and the purchases still to rate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Purchase, Review


class Reviews:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_purchase(self, purchase_id: int) -> Review | None:
        stmt = select(Review).where(Review.purchase_id == purchase_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def latest_unrated(self, customer_id: int) -> Purchase | None:
        """The customer's latest purchase without a rating (a fully refunded one doesn't count)."""
        stmt = (select(Purchase).outerjoin(Review, Review.purchase_id == Purchase.id)
                .where(Purchase.customer_id == customer_id, Review.id.is_(None),
                       Purchase.refunded_amount < Purchase.amount)
                .order_by(Purchase.occurred_at.desc(), Purchase.id.desc()).limit(1))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def rate(self, purchase_id: int, customer_id: int, rating: int, at: datetime) -> None:
        """The customer's rating of their purchase."""
        self.session.add(Review(purchase_id=purchase_id, customer_id=customer_id, rating=rating,
                                created_at=at))

    def set_comment(self, review: Review, comment: str) -> None:
        """The words that came with a rating (``review`` as ``of_purchase`` found it)."""
        review.comment = comment
