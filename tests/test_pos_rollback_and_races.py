"""A POS purchase writes its receipt, points and the card's counts with plain statements past
the ORM (bot/storage/session.py ``plain``): a failure after them leaves nothing behind and the
day book untouched, and purchases and refunds of one card from several tills at once add up
— the card's counts, its points and the day book kept == counted (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.loyalty import checkout
from bot.storage import day_book
from bot.storage.models import Customer, PointLot, PointOperation, Purchase
from tests.test_pos_api import shared_till  # noqa: F401 - a fixture
from tests.till import Till, count, member


@pytest.fixture
def till(shared_till: Till) -> Till:
    """A till on SQLite and on PostgreSQL (tests/test_pos_api.py's)."""
    return shared_till


async def card_figures(till: Till, card_number: str) -> tuple[int, int, int, int]:
    """(purchases counted, total spent, points in lots, points by the operations)."""
    async with till.app.core.unit_of_work() as uow:
        customer = await uow.customers.by_card_number(card_number)
        assert customer is not None
        lots = await uow.session.scalar(select(func.coalesce(func.sum(PointLot.remaining), 0))
                                        .where(PointLot.customer_id == customer.id))
        operations = await uow.session.scalar(
            select(func.coalesce(func.sum(PointOperation.amount), 0))
            .where(PointOperation.customer_id == customer.id))
        return customer.purchase_count, customer.total_spent, int(lots or 0), int(operations or 0)


async def the_book_holds(till: Till) -> None:
    async with till.app.core.unit_of_work() as uow:
        found = await day_book.check(uow.session)
    assert found.built and found.wrong == {}, found.lines()


async def test_a_purchase_that_fails_after_its_writes_leaves_nothing(till, monkeypatch):
    card = await member(till, points=500, purchases=5)
    before = await card_figures(till, card["card_number"])

    async def broken(*args: Any, **kwargs: Any) -> None:  # runs after every write of the purchase
        raise RuntimeError("the velocity check broke")

    monkeypatch.setattr(checkout, "flags", broken)
    status, body = await till.buy(card=card["card_number"], amount="1000.00", receipt_id="R1",
                                  spend_points=100)
    assert (status, body["error"]) == (500, "internal_error")
    assert await count(till.app, Purchase) == 0
    assert await card_figures(till, card["card_number"]) == before
    assert (await till.card(card["card_number"]))[1]["balance"] == 500
    await the_book_holds(till)

    monkeypatch.undo()
    status, body = await till.buy(card=card["card_number"], amount="1000.00", receipt_id="R1",
                                  spend_points=100)
    assert status == 201 and body["spent"] == 100
    left = 500 - 100 + body["earned"]
    assert await card_figures(till, card["card_number"]) == (6, 1000_00, left, left)
    await the_book_holds(till)


async def test_purchases_and_refunds_of_one_card_from_several_tills_at_once_add_up(till):
    card = await member(till, points=2000, purchases=3)
    first = [await till.buy(card=card["card_number"], amount="300.00", receipt_id=f"A{n}")
             for n in range(4)]
    assert all(status == 201 for status, _ in first)
    answers = await asyncio.gather(
        *(till.buy(card=card["card_number"], amount="200.00", receipt_id=f"B{n}", spend_points=5)
          for n in range(6)),
        *(till.refund(f"A{n}") for n in range(3)),  # three of the four refunded in full
        till.refund("A3", {"amount": "100.00", "refund_id": "part"}),
        till.refund("A3", {"amount": "100.00", "refund_id": "part"}))  # the same refund twice
    assert sorted(status for status, _ in answers[:6]) == [201] * 6
    assert all(status == 200 for status, _ in answers[6:]), answers[6:]
    once, again = ({k: v for k, v in body.items() if k != "balance"} for _, body in answers[-2:])
    assert once == again and once["refunded_total"] == "100.00"
    purchases, spent, lots, operations = await card_figures(till, card["card_number"])
    assert purchases == 3 + 1 + 6  # A3 is refunded in part only: it still counts
    assert spent == 200_00 + 6 * 200_00  # what A3 kept, and the B receipts
    assert lots == operations
    async with till.app.core.unit_of_work() as uow:
        refunded = await uow.session.scalar(select(func.sum(Purchase.refunded_amount)))
        customer = (await uow.session.execute(select(Customer))).scalars().one()
    assert refunded == 3 * 300_00 + 100_00
    assert customer.purchase_count == purchases
    await the_book_holds(till)


async def test_after_a_rollback_the_card_is_locked_again_before_its_points_change(till):
    """A unit of work that rolled back and went on holds no row lock any more: locking the
    card again must take it again, or another till would change the same card meanwhile."""
    if till.app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks: its writers take turns for the whole database")
    card = await member(till, points=50)
    async with till.app.core.unit_of_work() as first:
        customer = await first.customers.by_card_number(card["card_number"], lock=True)
        assert customer is not None
        customer_id = customer.id
        await first.session.rollback()
        await first.customers.hold(customer_id)
        async with till.app.core.unit_of_work() as second:
            await second.session.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(DBAPIError, match="lock timeout"):
                await second.customers.hold(customer_id)
