"""Purchases and their refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Purchase, Refund
from bot.storage.repositories.lots import CUSTOMER, balance_query
from bot.storage.session import plain, saw_purchase


class DayTotals(NamedTuple):
    """A customer's purchases of a day: how many, their amount, the points they earned and
    the points spent on them."""

    purchases: int
    amount: int
    earned: int
    spent: int


class Standing(NamedTuple):
    """What a new purchase needs to know before it is recorded, read at once."""

    recorded: bool  # a purchase with this receipt is recorded already
    balance: int  # the customer's points spendable now
    today: DayTotals  # the customer's purchases since the shop's day began


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

    async def add(self, purchase: Purchase) -> int:
        """Record a new purchase (``purchase`` holds its values, and then its id): a plain
        insert, since every purchase runs it, told to the day book here as the session
        tells it of the purchases written through the ORM."""
        values = {key: value for key, value in inspect(purchase).dict.items() if key in _COLUMNS}
        purchase.id = (await plain(self.session, _ADD, values)).scalar_one()
        saw_purchase(self.session, purchase)
        return purchase.id

    async def refund_by_key(self, purchase_id: int, refund_key: str) -> Refund | None:
        stmt = select(Refund).where(Refund.purchase_id == purchase_id, Refund.refund_key == refund_key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def refund(self, purchase: Purchase, refund: Refund) -> None:
        """Record a refund of (part of) a purchase: a purchase refunded in full no longer
        counts as one."""
        self.session.add(refund)
        purchase.refunded_amount += refund.amount


    async def standing(self, outlet_id: int, receipt_id: str, customer_id: int, now: datetime,
                       day_start: datetime) -> Standing:
        """``Standing`` in one statement (read after the customer's lock, so what it sees is
        what the purchase changes)."""
        row = (await plain(self.session, _STANDING, {
            "outlet_id": outlet_id, "receipt_id": receipt_id, "customer_id": customer_id,
            "now": now, "day_start": day_start})).one()
        return Standing(bool(row[0]), int(row[1]), DayTotals(*map(int, row[2:])))

    async def net_revenue(self) -> int:
        """What every purchase brought, less its refunds."""
        return int(await self.session.scalar(
            select(func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0))) or 0)


def _standing() -> Select[Any]:
    """Built once (every purchase runs it): the receipt recorded, the balance, the day."""
    p = Purchase
    day = (p.customer_id == CUSTOMER, p.occurred_at >= bindparam("day_start"))

    def of_day(column: Any) -> Any:
        return select(func.coalesce(func.sum(column), 0)).where(*day).scalar_subquery()

    recorded = select(p.id).where(p.outlet_id == bindparam("outlet_id"),
                                  p.receipt_id == bindparam("receipt_id"))
    return select(recorded.exists(), balance_query().scalar_subquery(),
                  select(func.count()).where(*day).scalar_subquery(), of_day(p.amount),
                  of_day(p.points_earned), of_day(p.points_spent))


_STANDING = _standing()
_ADD = insert(Purchase).returning(Purchase.id)
_COLUMNS = frozenset(Purchase.__table__.columns.keys())
