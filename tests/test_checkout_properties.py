"""Property: whatever purchases, spends, refunds, gifts, waits and expiry passes happen, the
ledger stays sound, the purchase count is the purchases not fully refunded, and each
purchase earned the cashback of its money part at the tier that applied to it.

The expected tier, cap and cashback are computed here from the model (the purchases and
refunds made so far), not read back from the customer row the service maintains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.config import ProgramSettings
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout, RefundTooLarge, SpendAboveCap, spend_cap
from bot.loyalty.ledger import Ledger
from bot.loyalty.tiers import current_tier
from bot.storage import database
from bot.storage.models import Purchase
from bot.storage.uow import UnitOfWork
from tests.test_ledger import new_customer
from tests.test_ledger_properties import check_invariants

START = datetime(2026, 1, 1, tzinfo=UTC)

amounts = st.one_of(st.integers(1, 5_000), st.integers(5_000, 3_000_000))  # minor units
steps = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), amounts, st.integers(0, 100)),  # spend this % of the cap
        st.tuples(st.just("overspend"), amounts),
        st.tuples(st.just("refund"), st.integers(0, 30), st.booleans(), st.integers(1, 100)),
        st.tuples(st.just("replay"), st.integers(0, 30)),
        st.tuples(st.just("gift"), st.integers(1, 800), st.integers(1, 120)),
        st.tuples(st.just("wait"), st.integers(1, 90)),
        st.tuples(st.just("expire"),),
    ),
    max_size=30,
)


@dataclass
class Bought:
    receipt: str
    amount: int
    spent: int
    earned: int
    refunded: int = 0
    returned: int = 0  # of ``spent``, given back by refunds
    reversed: int = 0  # of ``earned``, due to be taken back by refunds

    def refund(self, amount: int) -> tuple[int, int]:
        """What refunding ``amount`` gives back and takes back, in proportion to what is
        kept: (points returned, cashback to reverse)."""
        kept = self.amount - self.refunded - amount
        give_back = self.spent - self.returned - self.spent * kept // self.amount
        reverse = self.earned - self.reversed - self.earned * kept // self.amount
        self.refunded, self.returned, self.reversed = (
            self.refunded + amount, self.returned + give_back, self.reversed + reverse)
        return give_back, reverse


def expected_cashback(paid_minor: int, percent: int) -> int:
    """Whole points, rounded down: 3 % of 3,850.00 is 115."""
    return paid_minor * percent // 100 // 100


class Model:
    def __init__(self) -> None:
        self.bought: list[Bought] = []

    @property
    def count(self) -> int:
        return sum(1 for b in self.bought if b.refunded < b.amount)

    @property
    def total(self) -> int:
        return sum(b.amount - b.refunded for b in self.bought)


async def run_step(sessions, clock: FrozenClock, program: ProgramSettings, customer: int,  # type: ignore[no-untyped-def]
                   model: Model, step: tuple) -> None:  # type: ignore[type-arg]
    async with UnitOfWork(sessions) as uow:
        checkout = Checkout(uow, clock, program)
        ledger = checkout.ledger
        outlet = (await uow.outlets.default()).id
        before = await ledger.balance(customer)
        match step:
            case ("buy", amount, percent):
                tier = current_tier(model.count + 1, program, model.total + amount)
                row = await uow.customers.get(customer)
                cap = await checkout.cap_for(row, amount)
                assert cap == spend_cap(amount, before, tier, program)
                spend = cap * percent // 100
                receipt = f"c{customer}-{len(model.bought)}"
                result = await checkout.purchase(customer_id=customer, outlet_id=outlet,
                                                 receipt_id=receipt, amount=amount, spend=spend)
                earned = expected_cashback(amount - spend * 100, tier.cashback_percent)
                assert (result.tier, result.spent, result.earned) == (tier.code, spend, earned)
                assert not result.replayed
                pending = earned if program.purchase_points_hold_days else 0
                assert result.balance == before - spend + earned - pending
                model.bought.append(Bought(receipt, amount, spend, earned))
            case ("overspend", amount):
                row = await uow.customers.get(customer)
                cap = await checkout.cap_for(row, amount)
                try:
                    await checkout.purchase(customer_id=customer, outlet_id=outlet,
                                            receipt_id=f"c{customer}-x", amount=amount, spend=cap + 1)
                    raise AssertionError("a spend above the cap was accepted")
                except SpendAboveCap as refused:
                    assert refused.cap == cap
                return  # the unit of work rolls back
            case ("refund", index, full, percent) if model.bought:
                bought = model.bought[index % len(model.bought)]
                left = bought.amount - bought.refunded
                amount = None if full else max(1, left * percent // 100)
                if left == 0:  # nothing left: a retried "refund the rest" replays, else refused
                    try:
                        again = await checkout.refund(outlet_id=outlet, receipt_id=bought.receipt,
                                                      amount=amount)
                    except RefundTooLarge:
                        return
                    assert again.replayed and await ledger.balance(customer) == before
                    return
                held = (await ledger.summary(customer)).pending + before  # all live points
                result = await checkout.refund(outlet_id=outlet, receipt_id=bought.receipt,
                                               amount=amount)
                assert result.amount == (left if full else amount)
                give_back, reverse = bought.refund(result.amount)
                assert result.refunded_total == bought.refunded
                assert result.points_returned == give_back
                # spent points come back first, so the cashback can be taken from them too
                assert result.points_reversed == min(reverse, held + give_back)  # never below zero
                if not program.purchase_points_hold_days:
                    assert result.balance == before + result.points_returned - result.points_reversed
            case ("replay", index) if model.bought:
                bought = model.bought[index % len(model.bought)]
                result = await checkout.purchase(customer_id=customer, outlet_id=outlet,
                                                 receipt_id=bought.receipt, amount=bought.amount,
                                                 spend=bought.spent)
                assert result.replayed and (result.spent, result.earned) == (bought.spent, bought.earned)
                assert await ledger.balance(customer) == before
            case ("gift", points, days):
                await ledger.earn(customer, points, "gift", timedelta(days=days))
            case ("wait", days):
                clock.advance(days=days)
            case ("expire",):
                await ledger.expire_due()
        await uow.commit()


async def check_purchases(sessions, customer: int, model: Model) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        row = await uow.customers.get(customer)
        assert row.purchase_count == model.count
        assert row.total_spent == model.total
        purchases = {p.receipt_id: p for p in (await uow.session.execute(
            select(Purchase).where(Purchase.customer_id == customer))).scalars()}
    assert set(purchases) == {b.receipt for b in model.bought}
    for bought in model.bought:
        purchase = purchases[bought.receipt]
        assert (purchase.points_spent, purchase.points_earned) == (bought.spent, bought.earned)
        assert purchase.refunded_amount == bought.refunded
        assert 0 <= purchase.points_returned <= purchase.points_spent
        assert 0 <= purchase.points_reversed <= purchase.points_earned
        if bought.refunded == bought.amount:  # a full refund reverses all of it
            assert purchase.points_returned == purchase.points_spent
            assert purchase.points_reversed == purchase.points_earned


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, opening=st.integers(0, 3_000), hold_days=st.sampled_from([0, 0, 14]))
async def test_checkout_rules_hold_under_any_sequence(db_url, steps, opening, hold_days):
    engine = database.create_engine(db_url)
    sessions = database.session_factory(engine)
    clock = FrozenClock(START)
    program = ProgramSettings(purchase_points_hold_days=hold_days)
    try:
        customer = await new_customer(sessions, clock)
        if opening:
            async with UnitOfWork(sessions) as uow:
                await Ledger(uow, clock).earn(customer, opening, "gift", timedelta(days=200))
                await uow.commit()
        model = Model()
        for step in steps:
            await run_step(sessions, clock, program, customer, model, step)
            await check_invariants(sessions, clock, customer)
            await check_purchases(sessions, customer, model)
    finally:
        await engine.dispose()
