"""Property: purchases, refunds (retried by key too), replays, gifts, adjustments by hand and
expiry passes, several of them in one unit of work (as the demo, an import or one chat event
makes them), keep every figure right whether read inside that unit of work or after its
commit: the card's purchase count and total as loaded in the session, the balance, the lots
that add up to the operations, and the day book kept == counted — on SQLite and PostgreSQL.

The ledger, a purchase's row and the card's counts are written with plain statements past
the ORM (bot/storage/session.py ``plain``): what the session holds must not go stale nor
overwrite them at the flush."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import ProgramSettings
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout
from bot.loyalty.ledger import InsufficientPoints, Ledger
from bot.storage import database, day_book
from bot.storage.database import Sessions
from bot.storage.models import PointLot, PointOperation, PointSpend, Purchase
from bot.storage.session import WALLET, WALLET_CHANGED
from bot.storage.uow import UnitOfWork
from tests.test_checkout_properties import Model
from tests.test_day_book import START, ZONE
from tests.test_ledger import new_customer

PROGRAM = ProgramSettings()
amounts = st.integers(1, 2_000_000)  # minor units
step = st.one_of(
    st.tuples(st.just("buy"), amounts, st.integers(0, 100)),  # spend this % of the cap
    st.tuples(st.just("refund"), st.integers(0, 20), st.booleans(), st.integers(1, 100)),
    st.tuples(st.just("refund_again"),),  # the last refund retried with its key
    st.tuples(st.just("replay"), st.integers(0, 20)),
    st.tuples(st.just("gift"), st.integers(1, 500), st.integers(1, 60)),
    st.tuples(st.just("adjust"), st.integers(-400, 400).filter(bool)),
    st.tuples(st.just("wait"), st.integers(1, 40)),
    st.tuples(st.just("expire"),),
)
units = st.lists(st.lists(step, min_size=1, max_size=6), min_size=1, max_size=6)


@asynccontextmanager
async def booked(url: str) -> AsyncIterator[Sessions]:
    """Sessions on the test's database, with the day book started at ``START``."""
    engine = database.create_engine(url)
    sessions = database.session_factory(engine)
    try:
        async with UnitOfWork(sessions) as uow:
            await day_book.ensure(uow.session, ZONE, START)
            await uow.commit()
        yield sessions
    finally:
        await engine.dispose()


@dataclass
class Bought:
    receipt: str
    amount: int
    refunded: int = 0


class Card(Model):
    """What the card's counts must be (``Model``'s: the purchases not refunded in full,
    their net), and the refunds made on it."""

    def __init__(self) -> None:
        super().__init__()
        self.bought: list[Bought] = []  # simpler purchases than Model's: count and net need no more
        self.last_refund: tuple[str, str, int] | None = None  # receipt, key, amount
        self.refunds = 0


async def play(uow: UnitOfWork, clock: FrozenClock, customer: int, card: Card, step: tuple) -> None:  # type: ignore[type-arg]
    checkout = Checkout(uow, clock, PROGRAM, ZONE)
    outlet = (await uow.outlets.default()).id
    match step:
        case ("buy", amount, percent):
            row = await uow.customers.lock(customer)
            assert row is not None
            spend = await checkout.cap_for(row, amount) * percent // 100
            receipt = f"c{customer}-{len(card.bought)}"
            result = await checkout.purchase(customer_id=customer, outlet_id=outlet,
                                             receipt_id=receipt, amount=amount, spend=spend)
            assert not result.replayed
            card.bought.append(Bought(receipt, amount))
        case ("refund", index, full, percent) if card.bought:
            bought = card.bought[index % len(card.bought)]
            left = bought.amount - bought.refunded
            if left == 0:
                return
            amount = left if full else max(1, left * percent // 100)
            key = f"k{card.refunds}"
            card.refunds += 1
            result = await checkout.refund(outlet_id=outlet, receipt_id=bought.receipt,
                                           amount=amount, refund_key=key)
            assert not result.replayed and result.amount == amount
            bought.refunded += amount
            card.last_refund = (bought.receipt, key, amount)
        case ("refund_again",) if card.last_refund:
            receipt, key, amount = card.last_refund
            balance = await checkout.ledger.balance(customer)
            again = await checkout.refund(outlet_id=outlet, receipt_id=receipt, amount=amount,
                                          refund_key=key)
            assert again.replayed and again.balance == balance
        case ("replay", index) if card.bought:
            bought = card.bought[index % len(card.bought)]
            first = await uow.purchases.by_receipt(outlet, bought.receipt)
            assert first is not None
            balance = await checkout.ledger.balance(customer)
            again = await checkout.purchase(customer_id=customer, outlet_id=outlet,
                                            receipt_id=bought.receipt, amount=bought.amount,
                                            spend=first.points_spent)
            assert again.replayed and again.purchase_id == first.id
            assert await checkout.ledger.balance(customer) == balance
        case ("gift", points, days):
            await checkout.ledger.earn(customer, points, "gift", timedelta(days=days))
        case ("adjust", points):
            try:
                await checkout.ledger.adjust(customer, points, note="by hand", actor=None,
                                             lifetime=timedelta(days=30))
            except InsufficientPoints:
                assert points < 0
        case ("wait", days):
            clock.advance(days=days)
        case ("expire",):
            await checkout.ledger.expire_due()
    await the_card_holds(uow, customer, card)  # as this unit of work sees it


async def the_card_holds(uow: UnitOfWork, customer: int, card: Card) -> None:
    """The counts as loaded in this session, the ledger's rows as written so far: read on
    the connection, so nothing the session holds is flushed for the check."""
    row = await uow.customers.get(customer)
    assert row is not None
    assert (row.purchase_count, row.total_spent) == (card.count, card.total)
    connection = await uow.session.connection()
    lots, operations = (await connection.execute(select(
        select(func.coalesce(func.sum(PointLot.remaining), 0))
        .where(PointLot.customer_id == customer).scalar_subquery(),
        select(func.coalesce(func.sum(PointOperation.amount), 0))
        .where(PointOperation.customer_id == customer).scalar_subquery()))).one()
    assert lots == operations
    assert await connection.scalar(select(func.count()).where(PointLot.remaining < 0)) == 0
    taken = select(PointSpend.operation_id, func.sum(PointSpend.amount).label("points")).group_by(
        PointSpend.operation_id).subquery()
    wrong = await connection.scalar(select(func.count()).select_from(PointOperation).join(
        taken, taken.c.operation_id == PointOperation.id).where(taken.c.points != -PointOperation.amount))
    assert wrong == 0


async def the_card_was_stored(sessions, customer: int, card: Card) -> None:  # type: ignore[no-untyped-def]
    """After the commit: the stored counts are the purchases not refunded in full, and the
    day book kept is the one counted from the rows."""
    async with UnitOfWork(sessions) as uow:
        await the_card_holds(uow, customer, card)
        stored = (await uow.session.execute(
            select(func.count(), func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0))
            .where(Purchase.customer_id == customer, Purchase.refunded_amount < Purchase.amount))
        ).one()
        assert tuple(stored) == (card.count, card.total)
        found = await day_book.check(uow.session)
        assert found.built and found.wrong == {}, found.lines()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(units=units)
async def test_many_changes_in_one_unit_of_work_keep_every_figure(any_db_url, units):
    clock = FrozenClock(START)
    async with booked(any_db_url) as sessions:
        customer, card = await new_customer(sessions, clock), Card()
        for unit in units:
            async with UnitOfWork(sessions) as uow:
                for one in unit:
                    await play(uow, clock, customer, card, one)
                await uow.commit()
            await the_card_was_stored(sessions, customer, card)


async def test_a_referred_first_purchase_refunded_and_bought_again_in_one_unit_of_work(any_db_url):
    clock = FrozenClock(START)
    program = ProgramSettings(referral_bonus=100)
    async with booked(any_db_url) as sessions:
        friend, invited = await new_customer(sessions, clock), await new_customer(sessions, clock)
        async with UnitOfWork(sessions) as uow:
            await uow.customers.set_referrer(invited, friend)
            await uow.commit()
        async with UnitOfWork(sessions) as uow:
            checkout = Checkout(uow, clock, program, ZONE)
            outlet = (await uow.outlets.default()).id
            first = await checkout.purchase(customer_id=invited, outlet_id=outlet,
                                            receipt_id="i1", amount=1000_00)
            assert (first.referral_bonus, first.referrer_rewarded) == (100, friend)
            await checkout.purchase(customer_id=friend, outlet_id=outlet, receipt_id="f1",
                                    amount=500_00, spend=10)
            await checkout.refund(outlet_id=outlet, receipt_id="i1")
            again = await checkout.purchase(customer_id=invited, outlet_id=outlet,
                                            receipt_id="i2", amount=200_00)
            assert again.referral_bonus == 0  # paid once, taken back with the refund
            await uow.commit()
        invited_card, friend_card = Card(), Card()
        invited_card.bought = [Bought("i1", 1000_00, 1000_00), Bought("i2", 200_00)]
        friend_card.bought = [Bought("f1", 500_00)]
        await the_card_was_stored(sessions, invited, invited_card)
        await the_card_was_stored(sessions, friend, friend_card)


async def test_a_unit_of_work_rolled_back_forgets_its_purchase(any_db_url):
    """Its plain writes go with the transaction, and so do the day book's and the wallet's
    notes of them (bot/storage/session.py ``_forget_rolled_back_facts``)."""
    clock = FrozenClock(START)
    async with booked(any_db_url) as sessions:
        customer = await new_customer(sessions, clock)
        async with UnitOfWork(sessions) as uow:
            uow.session.info[WALLET] = True
            checkout = Checkout(uow, clock, PROGRAM, ZONE)
            await checkout.purchase(customer_id=customer, outlet_id=(await uow.outlets.default()).id,
                                    receipt_id="gone", amount=1000_00)
            assert uow.book.pending and uow.session.info.get(WALLET_CHANGED)
            await uow.session.rollback()
            assert not uow.book.pending and not uow.session.info.get(WALLET_CHANGED)
            await checkout.ledger.earn(customer, 50, "gift", timedelta(days=30))
            await uow.commit()
        await the_card_was_stored(sessions, customer, Card())
        async with UnitOfWork(sessions) as uow:
            assert await uow.session.scalar(select(func.count()).select_from(Purchase)
                                            .where(Purchase.receipt_id == "gone")) == 0
            assert await Ledger(uow, clock).balance(customer) == 50
