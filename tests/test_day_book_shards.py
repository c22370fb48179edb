"""The day book's shards on a real PostgreSQL (bot/storage/day_book.py): purchases made at
once add into different rows of today instead of queueing on one, and the book stays
exact: kept equals counted from the receipts, before and after the nightly fold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.config import ProgramSettings
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout
from bot.storage import database, day_book
from bot.storage.models import Purchase, StatsCohort, StatsDay, StatsGap
from bot.storage.uow import UnitOfWork
from tests.test_ledger import new_customer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Moscow")
PROGRAM = ProgramSettings()
TILLS, PURCHASES_EACH, CUSTOMERS = 8, 12, 10


@pytest.fixture
async def sessions(pg_migrated_url):  # type: ignore[no-untyped-def]
    engine = database.create_engine(pg_migrated_url)
    sessions = database.session_factory(engine)
    async with UnitOfWork(sessions) as uow:
        await day_book.ensure(uow.session, ZONE, NOW)
        await uow.commit()
    yield sessions
    await engine.dispose()


async def customers(sessions, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Customers, every other one a member (so the cohorts are kept too)."""
    clock = FrozenClock(NOW - timedelta(days=40))
    made = [await new_customer(sessions, clock) for _ in range(count)]
    async with UnitOfWork(sessions) as uow:
        for customer in made[::2]:
            await uow.customers.register(customer, clock.now())
        await uow.commit()
    return made


async def buy(sessions, customer: int, receipt: str, amount: int, back_days: int = 0) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        await Checkout(uow, FrozenClock(NOW), PROGRAM, ZONE).purchase(
            customer_id=customer, outlet_id=(await uow.outlets.default()).id,
            receipt_id=receipt, amount=amount, occurred_at=NOW - timedelta(days=back_days))
        await uow.commit()


async def shards(sessions) -> set[int]:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        found: set[int] = set()
        for model in (StatsDay, StatsGap, StatsCohort):
            found.update((await uow.session.execute(select(model.shard).distinct())).scalars())
        return found


async def kept(sessions):  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return await day_book.kept_rows(uow.session)


async def today_in_the_book(sessions) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Today's purchases and revenue, summed over the day book's shards."""
    async with UnitOfWork(sessions) as uow:
        purchases, revenue = (await uow.session.execute(
            select(func.sum(StatsDay.purchases), func.sum(StatsDay.revenue))
            .where(StatsDay.day == NOW.astimezone(ZONE).date()))).one()
    return purchases, revenue


async def test_a_writer_adds_into_a_shard_no_running_writer_holds(sessions):
    first, second = await customers(sessions, 2)
    async with UnitOfWork(sessions) as uow:  # holds shard 0 until its commit
        await Checkout(uow, FrozenClock(NOW), PROGRAM, ZONE).purchase(
            customer_id=first, outlet_id=(await uow.outlets.default()).id,
            receipt_id="held", amount=100_00)
        await uow.book.flush()
        await buy(sessions, second, "meanwhile", 200_00)  # does not wait for the first
        await uow.commit()
    assert await shards(sessions) == {0, 1}
    assert await today_in_the_book(sessions) == (2, 300_00)
    await buy(sessions, first, "alone", 50_00)
    assert await shards(sessions) == {0, 1}  # one writer alone: shard 0


async def test_a_writer_that_finds_every_shard_taken_waits_for_one_and_loses_nothing(
        sessions, pg_migrated_url):
    first, second = await customers(sessions, 2)
    await buy(sessions, first, "before", 100_00)
    async with UnitOfWork(sessions) as folding:  # the nightly fold holds every shard
        await folding.book.fold()
        waiting = asyncio.create_task(buy(sessions, second, "during the fold", 200_00))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # no shard to add into until the fold commits
        await folding.commit()
    await waiting
    assert await today_in_the_book(sessions) == (2, 300_00)
    assert (await day_book.check_database(pg_migrated_url)).holds


async def test_concurrent_purchases_keep_the_book_exact_and_the_fold_keeps_it(
        sessions, pg_migrated_url):
    people = await customers(sessions, CUSTOMERS)

    async def till(number: int) -> None:
        for i in range(PURCHASES_EACH):
            customer = people[(number * 3 + i) % CUSTOMERS]
            await buy(sessions, customer, f"till{number}-{i}", 10_00 + 37 * i + number,
                      back_days=(i % 4) * 9)  # some dated back between earlier ones

    await asyncio.gather(*(till(n) for n in range(TILLS)))
    async with UnitOfWork(sessions) as uow:
        assert await uow.session.scalar(select(func.count(Purchase.id))) == TILLS * PURCHASES_EACH
    assert len(await shards(sessions)) > 1  # the tills did add at once
    check = await day_book.check_database(pg_migrated_url)
    assert check.holds, check.lines()
    before = await kept(sessions)

    async with UnitOfWork(sessions) as uow:
        await uow.book.fold()
        await uow.commit()
    assert await shards(sessions) == {0}
    assert await kept(sessions) == before
    assert (await day_book.check_database(pg_migrated_url)).holds


async def test_the_fold_running_while_tills_buy_and_refund_loses_nothing(sessions, pg_migrated_url):
    """The fold holds every shard while it runs; a commit meanwhile (one statement picks a
    free shard and adds into it, or none is free and it waits) is counted exactly once."""
    people = await customers(sessions, 6)
    tills_done = asyncio.Event()

    async def refund(receipt: str, partly: bool) -> None:
        async with UnitOfWork(sessions) as uow:
            await Checkout(uow, FrozenClock(NOW), PROGRAM, ZONE).refund(
                outlet_id=(await uow.outlets.default()).id, receipt_id=receipt,
                amount=100 if partly else None, refund_key="part" if partly else None)
            await uow.commit()

    async def till(number: int) -> None:
        for i in range(12):
            await buy(sessions, people[(number + i) % 6], f"till{number}-{i}", 10_00 + 13 * i,
                      back_days=(i % 3) * 5)
            if i % 3 == 2:
                await refund(f"till{number}-{i - 1}", partly=i % 2 == 0)

    async def nightly() -> None:
        while not tills_done.is_set():
            async with UnitOfWork(sessions) as uow:
                await uow.book.fold()
                await uow.commit()
            await asyncio.sleep(0.01)

    folding = asyncio.create_task(nightly())
    await asyncio.gather(*(till(n) for n in range(6)))
    tills_done.set()
    await folding
    check = await day_book.check_database(pg_migrated_url)
    assert check.holds, check.lines()
    async with UnitOfWork(sessions) as uow:
        for customer in people:
            row = await uow.customers.get(customer)
            assert row is not None
            counted, net = (await uow.session.execute(
                select(func.count(), func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0))
                .where(Purchase.customer_id == customer, Purchase.refunded_amount < Purchase.amount))).one()
            assert (row.purchase_count, row.total_spent) == (counted, net)
