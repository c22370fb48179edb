"""The points rules at checkout (bot/loyalty/checkout.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import ProgramSettings
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import (
    Checkout,
    FutureDate,
    ReceiptConflict,
    RefundTooLarge,
    SpendAboveCap,
    spend_cap,
)
from bot.loyalty.ledger import Ledger
from bot.storage.models import Customer, PointLot
from bot.storage.uow import UnitOfWork
from tests.test_ledger import new_customer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROGRAM = ProgramSettings()
SILVER, GOLD, PLATINUM = PROGRAM.tiers


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


async def give(sessions, clock, customer: int, points: int) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        await Ledger(uow, clock).earn(customer, points, "gift", timedelta(days=100))
        await uow.commit()


async def buy(sessions, clock, customer: int, receipt: str, amount: int, spend: int = 0, **kw):  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        outlet = (await uow.outlets.default()).id
        result = await Checkout(uow, clock, PROGRAM).purchase(
            customer_id=customer, outlet_id=outlet, receipt_id=receipt, amount=amount,
            spend=spend, **kw)
        await uow.commit()
        return result


async def refund(sessions, clock, receipt: str, amount: int | None = None, key: str | None = None):  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        outlet = (await uow.outlets.default()).id
        result = await Checkout(uow, clock, PROGRAM).refund(
            outlet_id=outlet, receipt_id=receipt, amount=amount, refund_key=key)
        await uow.commit()
        return result


async def customer_row(sessions, customer: int) -> Customer:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return await uow.customers.get(customer)


def test_spend_cap_follows_the_spec_example():
    for tier, cap in ((SILVER, 150), (GOLD, 450), (PLATINUM, 600)):
        assert spend_cap(4000_00, 10_000, tier, PROGRAM) == cap
    assert spend_cap(4000_00, 100, PLATINUM, PROGRAM) == 100  # never above the balance
    assert spend_cap(4000_00, 10_000, None, PROGRAM) == 0


async def test_first_purchase_is_at_silver_and_earns_on_the_money_part(sessions, clock):
    customer = await new_customer(sessions, clock)
    await give(sessions, clock, customer, 1000)
    result = await buy(sessions, clock, customer, "R1", 4000_00, spend=150)
    assert (result.spent, result.earned, result.tier) == (150, 115, "silver")  # 3 % of 3,850
    assert result.balance == 1000 - 150 + 115
    assert result.tier_changed and result.tier_before is None


async def test_spending_above_the_cap_is_refused_and_nothing_is_written(sessions, clock):
    customer = await new_customer(sessions, clock)
    await give(sessions, clock, customer, 1000)
    with pytest.raises(SpendAboveCap) as refused:
        await buy(sessions, clock, customer, "R1", 4000_00, spend=151)
    assert refused.value.cap == 150
    assert (await customer_row(sessions, customer)).purchase_count == 0


async def test_tiers_by_purchase_count(sessions, clock):
    customer = await new_customer(sessions, clock)
    tiers = [(await buy(sessions, clock, customer, f"R{n}", 100_00)).tier for n in range(1, 8)]
    assert tiers == ["silver"] * 4 + ["gold"] * 2 + ["platinum"]


async def test_the_same_receipt_three_times_earns_once(sessions, clock):
    customer = await new_customer(sessions, clock)
    first = await buy(sessions, clock, customer, "R1", 1000_00)
    again = [await buy(sessions, clock, customer, "R1", 1000_00) for _ in range(2)]
    assert all(r.replayed and r.purchase_id == first.purchase_id and r.earned == first.earned
               for r in again)
    assert (await customer_row(sessions, customer)).purchase_count == 1
    with pytest.raises(ReceiptConflict):
        await buy(sessions, clock, customer, "R1", 999_00)


async def test_a_purchase_in_the_future_is_refused(sessions, clock):
    customer = await new_customer(sessions, clock)
    with pytest.raises(FutureDate):
        await buy(sessions, clock, customer, "R1", 100_00, occurred_at=NOW + timedelta(hours=1))
    past = await buy(sessions, clock, customer, "R2", 100_00, occurred_at=NOW - timedelta(days=30))
    assert past.earned == 3


async def test_a_full_refund_reverses_points_and_the_purchase_count(sessions, clock):
    customer = await new_customer(sessions, clock)
    await give(sessions, clock, customer, 500)
    bought = await buy(sessions, clock, customer, "R1", 4000_00, spend=150)
    result = await refund(sessions, clock, "R1")
    assert (result.points_returned, result.points_reversed) == (150, bought.earned)
    assert result.balance == 500
    row = await customer_row(sessions, customer)
    assert (row.purchase_count, row.total_spent) == (0, 0)
    again = await refund(sessions, clock, "R1")  # a retried full refund: the same, once
    assert again.replayed and again.balance == 500
    with pytest.raises(RefundTooLarge):
        await refund(sessions, clock, "R1", 1_00, key="more")


async def test_a_partial_refund_reverses_in_proportion_and_is_idempotent_by_key(sessions, clock):
    customer = await new_customer(sessions, clock)
    await give(sessions, clock, customer, 500)
    await buy(sessions, clock, customer, "R1", 4000_00, spend=100)  # earns 117
    half = await refund(sessions, clock, "R1", 2000_00, key="ret-1")
    assert (half.points_returned, half.points_reversed) == (50, 59)
    assert (await refund(sessions, clock, "R1", 2000_00, key="ret-1")).replayed
    assert (await customer_row(sessions, customer)).purchase_count == 1  # still bought
    rest = await refund(sessions, clock, "R1", key="ret-2")
    assert (rest.points_returned, rest.points_reversed) == (50, 58)
    assert rest.balance == 500


async def test_returned_points_live_at_least_the_minimum(sessions, clock):
    customer = await new_customer(sessions, clock)
    await give(sessions, clock, customer, 200)  # lives 100 days
    await buy(sessions, clock, customer, "R1", 4000_00, spend=150)
    clock.advance(days=90)
    await refund(sessions, clock, "R1")
    async with UnitOfWork(sessions) as uow:
        lot = (await uow.session.execute(
            select(PointLot).where(PointLot.reason == "refund"))).scalar_one()
    assert lot.amount == 150
    assert lot.expires_at == clock.now() + timedelta(days=PROGRAM.refund_points_min_days)


class TickingClock(FrozenClock):
    """A real clock's habit: every reading is a little later than the one before."""

    def now(self) -> datetime:
        self.advance(microseconds=1)
        return super().now()


async def test_returned_points_burn_with_the_points_they_were_taken_from(sessions):
    """The refund reads the clock once: the points it gives back burn exactly when the lot
    they were spent from burns, not a few microseconds later."""
    clock = TickingClock(NOW)
    customer = await new_customer(sessions, clock)
    await give(sessions, clock, customer, 200)  # lives 100 days
    await buy(sessions, clock, customer, "R1", 4000_00, spend=150)
    await refund(sessions, clock, "R1")
    async with UnitOfWork(sessions) as uow:
        gift, returned = (await uow.session.execute(
            select(PointLot.expires_at).where(PointLot.reason.in_(("gift", "refund")))
            .order_by(PointLot.id))).scalars().all()
    assert returned == gift


async def test_cashback_already_spent_is_taken_back_only_as_far_as_the_balance_goes(sessions, clock):
    customer = await new_customer(sessions, clock)
    bought = await buy(sessions, clock, customer, "R1", 10_000_00)  # earns 300
    assert bought.earned == 300
    async with UnitOfWork(sessions) as uow:
        await Ledger(uow, clock).spend(customer, 250, "reward")
        await uow.commit()
    result = await refund(sessions, clock, "R1")
    assert (result.points_reversed, result.balance) == (50, 0)


async def test_an_old_receipt_earns_points_that_live_from_its_day_and_tells_nobody(sessions, clock):
    from bot.config import Settings
    from bot.handlers.notices import purchase_notifications

    customer = await new_customer(sessions, clock)
    month_ago = await buy(sessions, clock, customer, "R1", 1000_00, occurred_at=NOW - timedelta(days=30))
    assert month_ago.earned == 30 and month_ago.backdated
    assert purchase_notifications(month_ago, Settings()) == []
    async with UnitOfWork(sessions) as uow:
        lot = (await uow.session.execute(select(PointLot))).scalar_one()
    assert lot.expires_at == NOW - timedelta(days=30) + timedelta(days=PROGRAM.purchase_points_days)
    ancient = await buy(sessions, clock, customer, "R2", 1000_00, occurred_at=NOW - timedelta(days=400))
    assert ancient.earned == 0  # its points would have burnt already
    fresh = await buy(sessions, clock, customer, "R3", 1000_00)
    assert not fresh.backdated and len(purchase_notifications(fresh, Settings())) == 1
