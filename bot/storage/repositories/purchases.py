"""Purchases and their refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Purchase, Refund


class Purchases:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_receipt(self, outlet_id: int, receipt_id: str, *, lock: bool = False) -> Purchase | None:
        """The purchase; with ``lock``, row-locked and re-read (after waiting for the lock,
        what this session held may be stale)."""
        stmt = select(Purchase).where(Purchase.outlet_id == outlet_id,
                                      Purchase.receipt_id == receipt_id)
        if lock:
            await self.session.flush()
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, purchase_id: int) -> Purchase | None:
        return await self.session.get(Purchase, purchase_id)

    async def add(self, purchase: Purchase) -> Purchase:
        self.session.add(purchase)
        await self.session.flush()
        return purchase

    async def refund_by_key(self, purchase_id: int, refund_key: str) -> Refund | None:
        stmt = select(Refund).where(Refund.purchase_id == purchase_id, Refund.refund_key == refund_key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def refund(self, purchase: Purchase, refund: Refund) -> None:
        """Record a refund of (part of) a purchase: a purchase refunded in full no longer
        counts as one."""
        self.session.add(refund)
        purchase.refunded_amount += refund.amount


    async def totals_since(self, customer_id: int, since: datetime) -> tuple[int, int, int, int]:
        """The customer's purchases made since ``since``: how many, their amount, the
        points they earned and the points spent on them."""
        count, amount, earned, spent = (await self.session.execute(
            select(func.count(), func.coalesce(func.sum(Purchase.amount), 0),
                   func.coalesce(func.sum(Purchase.points_earned), 0),
                   func.coalesce(func.sum(Purchase.points_spent), 0))
            .where(Purchase.customer_id == customer_id, Purchase.occurred_at >= since))).one()
        return count, amount, earned, spent

    async def net_revenue(self) -> int:
        """What every purchase brought, less its refunds."""
        return int(await self.session.scalar(
            select(func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0))) or 0)
