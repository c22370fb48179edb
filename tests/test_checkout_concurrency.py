"""Checkout under concurrency, on SQLite and on PostgreSQL: many units of work at once on
one card never overdraw it, and one receipt sent many times at once is one purchase."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.config import ProgramSettings
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout, PurchaseResult, RefundResult, SpendAboveCap
from bot.loyalty.ledger import InsufficientPoints, Ledger
from bot.storage import database
from bot.storage.models import PointLot, PointOperation, Purchase
from bot.storage.uow import UnitOfWork
from tests.test_ledger import new_customer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Cashback is held for a while, so only the opening points can be spent: the sum spent is
# bounded by them and the test can say exactly how far the card may go.
PROGRAM = ProgramSettings(purchase_points_hold_days=14)
OPENING = 1_000


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def card(sessions, clock) -> int:  # type: ignore[no-untyped-def]
    customer = await new_customer(sessions, clock)
    async with UnitOfWork(sessions) as uow:
        await Ledger(uow, clock).earn(customer, OPENING, "gift", timedelta(days=100))
        await uow.commit()
    return customer


async def purchase(sessions, clock, customer: int, receipt: str, amount: int,  # type: ignore[no-untyped-def]
                   spend: int | None) -> PurchaseResult:
    """One till request in its own unit of work; ``spend=None`` spends the cap it is shown."""
    async with UnitOfWork(sessions) as uow:
        checkout = Checkout(uow, clock, PROGRAM)
        if spend is None:
            spend = await checkout.cap_for(await uow.customers.get(customer), amount)
        outlet = (await uow.outlets.default()).id
        result = await checkout.purchase(customer_id=customer, outlet_id=outlet,
                                         receipt_id=receipt, amount=amount, spend=spend)
        await uow.commit()
        return result


async def ledger_state(sessions, clock, customer: int) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """(balance, the lowest lot remainder, sum of lots, sum of operations)."""
    async with UnitOfWork(sessions) as uow:
        balance = await Ledger(uow, clock).balance(customer)
        lowest, held = (await uow.session.execute(
            select(func.coalesce(func.min(PointLot.remaining), 0),
                   func.coalesce(func.sum(PointLot.remaining), 0))
            .where(PointLot.customer_id == customer))).one()
        operations = (await uow.session.execute(
            select(func.coalesce(func.sum(PointOperation.amount), 0))
            .where(PointOperation.customer_id == customer))).scalar_one()
        return balance, lowest, held, operations


async def purchases_of(sessions, customer: int) -> list[Purchase]:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return list((await uow.session.execute(
            select(Purchase).where(Purchase.customer_id == customer))).scalars())


def unexpected(outcomes: list[object], allowed: tuple[type, ...]) -> list[object]:
    return [o for o in outcomes if not isinstance(o, (PurchaseResult, RefundResult, *allowed))]


async def test_100_concurrent_spends_of_a_fixed_size_stop_exactly_at_the_balance(sessions, clock, card):
    outcomes = await asyncio.gather(
        *(purchase(sessions, clock, card, f"R{n}", 4000_00, spend=60) for n in range(100)),
        return_exceptions=True)
    assert unexpected(outcomes, (SpendAboveCap,)) == []
    done = [o for o in outcomes if isinstance(o, PurchaseResult)]
    assert len(done) == OPENING // 60  # 16 fit in 1,000; every other one is refused
    balance, lowest, held, operations = await ledger_state(sessions, clock, card)
    assert balance == OPENING - 60 * len(done) == 40
    assert lowest >= 0 and held == operations
    spent = sum(p.points_spent for p in await purchases_of(sessions, card))
    assert spent == 60 * len(done) <= OPENING


async def test_100_concurrent_purchases_spending_the_cap_they_saw_never_overdraw(sessions, clock, card):
    amounts = [(n * 7919) % 9000_00 + 500_00 for n in range(100)]  # 500.00 … 9,499.99
    outcomes = await asyncio.gather(
        *(purchase(sessions, clock, card, f"R{n}", amount, spend=None)
          for n, amount in enumerate(amounts)),
        return_exceptions=True)
    # A cap seen before another purchase took the points is refused at the till, never paid.
    assert unexpected(outcomes, (SpendAboveCap,)) == []
    balance, lowest, held, operations = await ledger_state(sessions, clock, card)
    spent = sum(p.points_spent for p in await purchases_of(sessions, card))
    assert balance >= 0 and lowest >= 0 and held == operations
    assert spent <= OPENING and balance == OPENING - spent
    assert spent > 0
    done = [o for o in outcomes if isinstance(o, PurchaseResult)]
    async with UnitOfWork(sessions) as uow:
        row = await uow.customers.get(card)
        assert (row.purchase_count, row.total_spent) == (len(done), sum(r.amount for r in done))


async def test_the_same_receipt_sent_10_times_at_once_is_one_purchase(sessions, clock, card):
    outcomes = await asyncio.gather(
        *(purchase(sessions, clock, card, "R-same", 4000_00, spend=150) for _ in range(10)),
        return_exceptions=True)
    # A loser either waited for the winner and replayed its result, or (were the insert to
    # race) lost on the unique (outlet, receipt) constraint: the till retries and replays.
    assert unexpected(outcomes, (IntegrityError,)) == []
    results = [o for o in outcomes if isinstance(o, PurchaseResult)]
    first = [r for r in results if not r.replayed]
    assert len(first) == 1
    assert all(r.purchase_id == first[0].purchase_id and (r.spent, r.earned) == (150, 115)
               for r in results)
    (only,) = await purchases_of(sessions, card)
    assert (only.points_spent, only.points_earned) == (150, 115)
    async with UnitOfWork(sessions) as uow:
        assert (await uow.customers.get(card)).purchase_count == 1
    balance, _lowest, held, operations = await ledger_state(sessions, clock, card)
    assert balance == OPENING - 150 and held == operations == OPENING - 150 + 115
    # What happened to the nine others (reported by ``pytest -rA``):
    replayed = sum(r.replayed for r in results)
    raced = sum(isinstance(o, IntegrityError) for o in outcomes)
    print(f"same receipt ×10: 1 recorded, {replayed} replayed, {raced} IntegrityError")
    assert replayed + raced == 9


async def refund(sessions, clock, receipt: str) -> RefundResult:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        outlet = (await uow.outlets.default()).id
        result = await Checkout(uow, clock, PROGRAM).refund(outlet_id=outlet, receipt_id=receipt)
        await uow.commit()
        return result


async def test_the_same_full_refund_sent_10_times_at_once_refunds_once(
        sessions, clock, card, any_db_url):
    await purchase(sessions, clock, card, "R1", 4000_00, spend=150)
    outcomes = await asyncio.gather(*(refund(sessions, clock, "R1") for _ in range(10)),
                                    return_exceptions=True)
    assert unexpected(outcomes, ()) == []
    assert sum(not o.replayed for o in outcomes) == 1  # the others replay that one refund
    balance, lowest, held, operations = await ledger_state(sessions, clock, card)
    assert balance == OPENING and lowest >= 0 and held == operations
    async with UnitOfWork(sessions) as uow:
        row = await uow.customers.get(card)
        assert (row.purchase_count, row.total_spent) == (0, 0)


# --- known races on PostgreSQL, replayed step by step -----------------------------------
# SQLite runs one transaction at a time (BEGIN IMMEDIATE), so these interleavings can't
# happen there. On PostgreSQL the customer's row lock serializes the writers, and what a
# unit of work read *before* taking the lock (a customer for the cap, a purchase, lots)
# must be re-read after it, or a write-back would overwrite the other side's update.


@pytest.fixture
async def pg_sessions(pg_migrated_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    engine = database.create_engine(pg_migrated_url)
    yield database.session_factory(engine)
    await engine.dispose()


async def test_a_refund_that_waited_for_another_refund_sees_it(pg_sessions, clock):
    customer = await new_customer(pg_sessions, clock)
    await purchase(pg_sessions, clock, customer, "R0", 100_00, spend=0)
    await purchase(pg_sessions, clock, customer, "R1", 4000_00, spend=0)  # earns 120
    async with UnitOfWork(pg_sessions) as late:
        outlet = (await late.outlets.default()).id
        # what refund() does before its lock (and it keeps the object: so does this test,
        # else the identity map would forget it and load it afresh)
        seen = await late.purchases.by_receipt(outlet, "R1")
        await refund(pg_sessions, clock, "R1")  # meanwhile another till refunds it all
        retried = await Checkout(late, clock, PROGRAM).refund(outlet_id=outlet, receipt_id="R1")
        assert retried.replayed
        assert seen is not None


async def test_a_purchase_after_reading_the_customer_counts_every_purchase(pg_sessions, clock):
    customer = await new_customer(pg_sessions, clock)
    async with UnitOfWork(pg_sessions) as till:
        checkout = Checkout(till, clock, PROGRAM)
        shown = await till.customers.get(customer)  # the checkout screen holds the customer
        cap = await checkout.cap_for(shown, 1000_00)
        await purchase(pg_sessions, clock, customer, "R-other", 1000_00, spend=0)  # another till
        outlet = (await till.outlets.default()).id
        await checkout.purchase(customer_id=customer, outlet_id=outlet, receipt_id="R-mine",
                                amount=1000_00, spend=cap)
        await till.commit()
        assert shown is not None
    async with UnitOfWork(pg_sessions) as uow:
        row = await uow.customers.get(customer)
        assert (row.purchase_count, row.total_spent) == (2, 2000_00)


async def test_a_spend_after_reading_the_lots_sees_another_spend(pg_sessions, clock):
    customer = await new_customer(pg_sessions, clock)
    async with UnitOfWork(pg_sessions) as uow:
        await Ledger(uow, clock).earn(customer, 150, "gift", timedelta(days=100))
        await uow.commit()
    async with UnitOfWork(pg_sessions) as late:
        shown = await late.lots.live_lots(customer, clock.now())  # e.g. a screen of the lots
        await give_reward(pg_sessions, clock, customer, 100)  # meanwhile, at another till
        with pytest.raises(InsufficientPoints):
            await Ledger(late, clock).spend(customer, 100, "reward")
        assert len(shown) == 1
    balance, _lowest, held, operations = await ledger_state(pg_sessions, clock, customer)
    assert (balance, held, operations) == (50, 50, 50)


async def give_reward(sessions, clock, customer: int, points: int) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        await Ledger(uow, clock).spend(customer, points, "reward")
        await uow.commit()
