"""The points ledger on SQLite and on PostgreSQL: lots, expiry order, never negative."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.clock import FrozenClock
from bot.loyalty.cards import new_card_number
from bot.loyalty.ledger import InsufficientPoints, Ledger
from bot.storage.models import Customer, PointLot, PointOperation
from bot.storage.uow import UnitOfWork

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def new_customer(sessions, clock: FrozenClock) -> int:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        customer = await uow.customers.add(
            Customer(consent_at=clock.now(), created_at=clock.now()),
            new_card_number,
        )
        await uow.commit()
        return customer.id


async def earn(sessions, clock, customer_id, points, days, hold_days=0, reason="purchase"):  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        await Ledger(uow, clock).earn(customer_id, points, reason, timedelta(days=days),
                                      hold=timedelta(days=hold_days))
        await uow.commit()


async def spend(sessions, clock, customer_id, points):  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        operation = await Ledger(uow, clock).spend(customer_id, points, "purchase")
        await uow.commit()
        return operation


async def balance(sessions, clock, customer_id) -> int:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return await Ledger(uow, clock).balance(customer_id)


async def test_spending_takes_the_lots_that_expire_first(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    await earn(sessions, clock, customer, 100, days=365)
    await earn(sessions, clock, customer, 50, days=14, reason="gift")
    await earn(sessions, clock, customer, 30, days=90, reason="welcome")
    await spend(sessions, clock, customer, 70)
    async with UnitOfWork(sessions) as uow:
        lots = (await uow.session.execute(select(PointLot).order_by(PointLot.expires_at))).scalars().all()
    assert [(lot.reason, lot.remaining) for lot in lots] == [("gift", 0), ("welcome", 10), ("purchase", 100)]
    assert await balance(sessions, clock, customer) == 110


async def test_spending_more_than_the_balance_is_refused_and_writes_nothing(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    await earn(sessions, clock, customer, 40, days=30)
    with pytest.raises(InsufficientPoints) as refused:
        await spend(sessions, clock, customer, 41)
    assert (refused.value.requested, refused.value.available) == (41, 40)
    async with UnitOfWork(sessions) as uow:
        operations = (await uow.session.execute(select(func.count(PointOperation.id)))).scalar_one()
    assert operations == 1
    assert await balance(sessions, clock, customer) == 40


async def test_expired_points_leave_the_balance_and_the_expiry_pass_records_them(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    await earn(sessions, clock, customer, 300, days=14, reason="gift")
    await earn(sessions, clock, customer, 100, days=365)
    clock.advance(days=14)
    assert await balance(sessions, clock, customer) == 100
    with pytest.raises(InsufficientPoints):
        await spend(sessions, clock, customer, 101)
    async with UnitOfWork(sessions) as uow:
        burnt = await Ledger(uow, clock).expire_due()
        await uow.commit()
    assert burnt == 300
    async with UnitOfWork(sessions) as uow:
        summary = await Ledger(uow, clock).summary(customer)
    assert summary.available == 100
    assert next((op.kind, op.amount) for op in summary.recent) == ("expire", -300)


async def test_held_points_are_pending_until_their_day(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    await earn(sessions, clock, customer, 20, days=365, hold_days=14)
    async with UnitOfWork(sessions) as uow:
        summary = await Ledger(uow, clock).summary(customer)
    assert (summary.available, summary.pending) == (0, 20)
    with pytest.raises(InsufficientPoints):
        await spend(sessions, clock, customer, 1)
    clock.advance(days=14)
    await spend(sessions, clock, customer, 20)
    assert await balance(sessions, clock, customer) == 0


async def test_summary_tells_what_burns_next(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    await earn(sessions, clock, customer, 100, days=365)
    await earn(sessions, clock, customer, 40, days=10, reason="gift")
    async with UnitOfWork(sessions) as uow:
        summary = await Ledger(uow, clock).summary(customer)
    assert summary.next_expiry is not None
    assert (summary.next_expiry.points, summary.next_expiry.on) == (40, (NOW + timedelta(days=10)).date())


async def test_concurrent_spends_never_drive_the_balance_negative(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    await earn(sessions, clock, customer, 100, days=365)

    async def try_spend() -> bool:
        try:
            await spend(sessions, clock, customer, 30)
            return True
        except InsufficientPoints:
            return False

    results = await asyncio.gather(*(try_spend() for _ in range(20)))
    assert results.count(True) == 3
    assert await balance(sessions, clock, customer) == 10
    async with UnitOfWork(sessions) as uow:
        remaining = (await uow.session.execute(select(func.sum(PointLot.remaining)))).scalar_one()
    assert remaining == 10


async def test_earning_nothing_or_less_is_a_programming_error(sessions):
    clock = FrozenClock(NOW)
    customer = await new_customer(sessions, clock)
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(ValueError):
            await Ledger(uow, clock).earn(customer, 0, "gift", timedelta(days=1))
        with pytest.raises(ValueError):
            await Ledger(uow, clock).spend(customer, -5, "purchase")
