"""The day book behind /stats (bot/storage/day_book.py): whatever customers join, buy (also
with receipts dated back between earlier ones), get refunds, move points or get erased,
the book kept by the writes equals the book built from the stored rows, and the figures
read from it equal the same figures counted here, receipt by receipt, in Python."""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.config import ProgramSettings
from bot.console.stats import cohort_months, gather
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout
from bot.storage import database, day_book
from bot.storage.models import (
    Customer,
    PointLot,
    PointOperation,
    Purchase,
    StatsCohort,
    StatsDay,
    StatsGap,
)
from bot.storage.uow import UnitOfWork
from tests.conftest import sqlite_url
from tests.test_ledger import new_customer

ZONE = ZoneInfo("Asia/Kolkata")  # +05:30: a shop-local day is not a UTC day
START = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
PROGRAM = ProgramSettings()
PEOPLE = 4
examples = itertools.count()

buys = st.tuples(st.just("buy"), st.integers(0, PEOPLE - 1), st.integers(1, 500_00),
                st.integers(0, 40))  # dated this many days back
steps = st.lists(
    st.one_of(
        buys, buys, buys, buys,
        st.tuples(st.just("wait"), st.integers(0, 12), st.integers(0, 23)),
        st.tuples(st.just("refund"), st.integers(0, 60), st.booleans()),
        st.tuples(st.just("join"), st.integers(0, PEOPLE - 1)),
        st.tuples(st.just("erase"), st.integers(0, PEOPLE - 1)),
        st.tuples(st.just("gift"), st.integers(0, PEOPLE - 1), st.integers(1, 300)),
        st.tuples(st.just("wait"), st.integers(1, 50), st.integers(0, 23)),
        st.tuples(st.just("expire"),),
    ),
    min_size=10, max_size=60,
)


async def run(sessions, clock: FrozenClock, people: list[int | None], step: tuple) -> None:  # type: ignore[type-arg]
    async with UnitOfWork(sessions) as uow:
        checkout = Checkout(uow, clock, PROGRAM)
        outlet = (await uow.outlets.default()).id
        match step:
            case ("buy", who, amount, back) if people[who] is not None:
                await checkout.purchase(
                    customer_id=people[who], outlet_id=outlet, receipt_id=f"r{next(examples)}",
                    amount=amount, spend=0, occurred_at=clock.now() - timedelta(days=back))
            case ("refund", index, full):
                receipts = (await uow.session.execute(select(Purchase.receipt_id).where(
                    Purchase.amount > Purchase.refunded_amount).order_by(Purchase.id))).scalars().all()
                if receipts:
                    purchase = await uow.purchases.by_receipt(outlet, receipts[index % len(receipts)])
                    left = purchase.amount - purchase.refunded_amount
                    await checkout.refund(outlet_id=outlet, receipt_id=purchase.receipt_id,
                                          amount=None if full else max(1, left // 3))
            case ("join", who) if people[who] is not None:
                customer = await uow.customers.get(people[who])
                if customer.registered_at is None:
                    await uow.customers.register(customer.id, clock.now())
            case ("erase", who) if people[who] is not None:
                await uow.customers.erase(people[who], None, clock.now())
                people[who] = None
            case ("gift", who, points) if people[who] is not None:
                await checkout.ledger.earn(people[who], points, "gift", timedelta(days=20))
            case ("wait", days, hours):
                clock.advance(days=days, hours=hours)
            case ("expire",):
                await checkout.ledger.expire_due()
        await uow.commit()


async def play(sessions, clock: FrozenClock, steps: list[tuple]) -> dict:  # type: ignore[type-arg]
    """Keep the book from an empty shop through ``steps``; the book's rows, checked equal
    to the book rebuilt from the stored rows."""
    async with UnitOfWork(sessions) as uow:
        assert await day_book.ensure(uow.session, ZONE, clock.now())  # the book is kept
        await uow.commit()
    people: list[int | None] = [await new_customer(sessions, clock) for _ in range(PEOPLE)]
    for step in steps:
        await run(sessions, clock, people, step)
    async with UnitOfWork(sessions) as uow:
        kept = await book_rows(uow.session)
        await day_book.rebuild(uow.session, ZONE, clock.now())
        assert await book_rows(uow.session) == kept
    return kept


async def book_rows(session) -> dict:  # type: ignore[no-untyped-def]
    """The book's rows that hold something, per table."""
    rows = {}
    for model in (StatsDay, StatsGap, StatsCohort):
        columns = list(model.__table__.columns)
        found = (await session.execute(select(*columns))).all()
        rows[model.__tablename__] = sorted(
            tuple(row) for row in found
            if any(row[i] for i, c in enumerate(columns) if not c.primary_key))
    return rows


# --- the same figures, receipt by receipt ------------------------------------------------------

def local_day(moment: datetime) -> date:
    return moment.astimezone(ZONE).date()


def counted_figures(purchases, customers, operations, lots, first: date, last: date,  # type: ignore[no-untyped-def]
                    now: datetime, customer_days: int) -> dict:
    def inside(day: date, a: date, b: date) -> bool:
        return a <= day <= b

    def buyers(a: date, b: date) -> set[int]:
        return {p.customer_id for p in purchases if p.customer_id is not None
                and p.amount > p.refunded_amount and inside(local_day(p.occurred_at), a, b)}

    members = {c.id for c in customers if c.registered_at and local_day(c.registered_at) <= last}
    per_customer = Counter(p.customer_id for p in purchases
                           if p.amount > p.refunded_amount and local_day(p.occurred_at) <= last)
    period = [p for p in purchases if inside(local_day(p.occurred_at), first, last)]
    days = timedelta(days=1)
    at_start = buyers(first - customer_days * days, first - days)
    at_end = buyers(last - (customer_days - 1) * days, last)
    in_period = buyers(first, last)
    ops = [o for o in operations if inside(local_day(o.created_at), first, last)]
    weeks = [(last - (7 * (11 - i) + 6) * days, last - 7 * (11 - i) * days) for i in range(12)]
    months = cohort_months(last)
    cohorts = []
    for i, month in enumerate(months[:-1]):  # whole months
        joined = [c for c in customers if c.registered_at
                  and month <= local_day(c.registered_at) < months[i + 1]]
        ids = {c.id for c in joined}
        spent = sum(p.amount - p.refunded_amount for p in purchases if p.customer_id in ids)
        buying = tuple(len(ids & buyers(since, months[j + 1] - days))
                       for j, since in enumerate(months[:-1]) if j >= i)
        cohorts.append((month, len(joined), spent, buying))
    return {
        "members": len(members),
        "new_members": sum(1 for c in customers if c.registered_at
                           and inside(local_day(c.registered_at), first, last)),
        "purchases": sum(1 for p in period if p.amount > p.refunded_amount),
        "revenue": sum(p.amount - p.refunded_amount for p in period),
        "buyers": len(in_period),
        "repeat_buyers": sum(1 for c in in_period if per_customer[c] >= 2),
        "active_30": len(buyers(last - 29 * days, last)),
        "active_90": len(buyers(last - 89 * days, last)),
        "customers_at_start": len(at_start),
        "customers_at_end": len(at_end),
        "retained": len(at_start & at_end),
        "lifetime_revenue": sum(p.amount - p.refunded_amount for p in purchases
                                if p.customer_id in members),
        "points": (sum(o.amount for o in ops if o.amount > 0 and o.kind != "expire"),
                   sum(-o.amount for o in ops if o.amount < 0 and o.kind != "expire"),
                   sum(-o.amount for o in ops if o.kind == "expire"),
                   sum(lot.remaining for lot in lots if lot.expires_at > now)),
        "weeks": [(sum(p.amount - p.refunded_amount for p in purchases
                       if inside(local_day(p.occurred_at), a, b)), len(buyers(a, b)))
                  for a, b in weeks],
        "cohorts": cohorts,
    }


def read_figures(stats) -> dict:  # type: ignore[no-untyped-def]
    names = ("members", "new_members", "purchases", "revenue", "buyers", "repeat_buyers",
             "active_30", "active_90", "customers_at_start", "customers_at_end", "retained",
             "lifetime_revenue")
    figures = {name: getattr(stats, name) for name in names}
    points = stats.points
    figures["points"] = (points.issued, points.spent, points.expired, points.outstanding)
    figures["weeks"] = [(week.revenue, week.buyers) for week in stats.weeks]
    figures["cohorts"] = [(c.month, c.members, c.revenue, c.buying) for c in stats.cohorts]
    return figures


async def stored(session) -> list:  # type: ignore[no-untyped-def]
    """Purchases, customers, point operations and lots, as stored."""
    return [(await session.execute(select(model))).scalars().all()
            for model in (Purchase, Customer, PointOperation, PointLot)]


async def assert_the_book_holds(uow, now: datetime, periods: list[tuple[date, date]]) -> None:  # type: ignore[no-untyped-def]
    """The kept book is the one counted from the rows, and /stats's figures for each
    period are the same counted receipt by receipt."""
    found = await day_book.check(uow.session)
    assert found.built and found.wrong == {}, found.lines()
    rows = await stored(uow.session)
    for first, last in periods:
        stats = await gather(uow, first, last, now, ZONE, 90, {})
        assert read_figures(stats) == counted_figures(*rows, first, last, now, 90), (first, last)


@pytest.fixture
def fresh_db(tmp_path: Path, migrated_template: Path):  # type: ignore[no-untyped-def]
    """A new migrated SQLite database for each call (each Hypothesis example)."""
    def make() -> str:
        path = tmp_path / f"book-{next(examples)}.db"
        shutil.copy(migrated_template, path)
        return sqlite_url(path)
    return make


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, customer_days=st.sampled_from([90, 20]))
async def test_the_kept_book_is_the_built_one_and_the_figures_are_the_counted_ones(
        fresh_db, steps, customer_days):
    engine = database.create_engine(fresh_db())
    sessions = database.session_factory(engine)
    clock = FrozenClock(START)
    try:
        await play(sessions, clock, steps)
        async with UnitOfWork(sessions) as uow:
            rows = await stored(uow.session)
            today = local_day(clock.now())
            for first, last in [(today - timedelta(days=29), today),  # /stats
                                (today - timedelta(days=119), today - timedelta(days=60)),
                                (today - timedelta(days=200), today),  # longer than a customer
                                (today, today)]:
                stats = await gather(uow, first, last, clock.now(), ZONE, customer_days, {})
                assert read_figures(stats) == counted_figures(
                    *rows, first, last, clock.now(), customer_days), (first, last)
    finally:
        await engine.dispose()


async def test_a_time_zone_change_rebuilds_the_book(db_url):
    engine = database.create_engine(db_url)
    sessions = database.session_factory(engine)
    clock = FrozenClock(datetime(2026, 3, 1, 22, 30, tzinfo=UTC))  # 2 March in Moscow
    try:
        async with UnitOfWork(sessions) as uow:
            await day_book.ensure(uow.session, ZoneInfo("UTC"), clock.now())
            await uow.commit()
        customer = await new_customer(sessions, clock)
        async with UnitOfWork(sessions) as uow:
            await Checkout(uow, clock, PROGRAM).purchase(
                customer_id=customer, outlet_id=(await uow.outlets.default()).id,
                receipt_id="1", amount=100_00, spend=0)
            await uow.commit()
        async with UnitOfWork(sessions) as uow:
            assert not await day_book.ensure(uow.session, ZoneInfo("UTC"), clock.now())
            assert await day_book.ensure(uow.session, ZoneInfo("Europe/Moscow"), clock.now())
            await uow.commit()
        async with UnitOfWork(sessions) as uow:
            days = (await uow.session.execute(
                select(StatsDay.day).where(StatsDay.purchases > 0))).scalars().all()
        assert days == [date(2026, 3, 2)]
    finally:
        await engine.dispose()


async def test_the_kept_book_is_the_built_one_on_each_database(sessions):
    """A fixed history (a receipt dated back between two others, refunds in part and in
    full, a till card that joins later, an erasure), kept on SQLite and PostgreSQL."""
    history = [("join", 0), ("buy", 0, 120_00, 0), ("buy", 1, 80_00, 0), ("wait", 10, 5),
               ("buy", 0, 300_00, 0), ("buy", 0, 50_00, 5), ("gift", 2, 100),
               ("buy", 2, 40_00, 0), ("refund", 1, False), ("refund", 2, True), ("wait", 35, 0),
               ("join", 2), ("buy", 2, 60_00, 30), ("expire",), ("erase", 1), ("buy", 3, 10_00, 0)]
    kept = await play(sessions, FrozenClock(START), history)
    assert sum(row[1] for row in kept["stats_days"]) == 6  # receipts still counted
