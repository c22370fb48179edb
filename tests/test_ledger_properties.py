"""Property: whatever happens, the balance is the sum of the live lots and never negative,
and the operations add up to what the lots hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.core.clock import FrozenClock
from bot.loyalty.ledger import InsufficientPoints, Ledger
from bot.storage import database
from bot.storage.models import PointLot, PointOperation
from bot.storage.uow import UnitOfWork
from tests.test_ledger import new_customer

START = datetime(2026, 1, 1, tzinfo=UTC)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 500), st.integers(1, 120), st.integers(0, 10)),
        st.tuples(st.just("spend"), st.integers(1, 600)),
        st.tuples(st.just("wait"), st.integers(1, 60)),
        st.tuples(st.just("expire")),
    ),
    max_size=25,
)


async def live_lot_sum(uow: UnitOfWork, customer: int, now: datetime) -> int:
    lots = (await uow.session.execute(select(PointLot).where(PointLot.customer_id == customer))).scalars()
    return sum(lot.remaining for lot in lots if lot.expires_at > now and lot.available_at <= now)


async def check_invariants(sessions, clock: FrozenClock, customer: int) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        balance = await Ledger(uow, clock).balance(customer)
        assert balance >= 0
        assert balance == await live_lot_sum(uow, customer, clock.now())
        lots_hold = (await uow.session.execute(
            select(func.coalesce(func.sum(PointLot.remaining), 0)).where(PointLot.customer_id == customer)
        )).scalar_one()
        operations_add_up = (await uow.session.execute(
            select(func.coalesce(func.sum(PointOperation.amount), 0))
            .where(PointOperation.customer_id == customer)
        )).scalar_one()
        assert lots_hold == operations_add_up
        negative = (await uow.session.execute(
            select(func.count(PointLot.id)).where(PointLot.remaining < 0)
        )).scalar_one()
        assert negative == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
async def test_ledger_invariants_hold_under_any_sequence(db_url, steps):
    engine = database.create_engine(db_url)
    sessions = database.session_factory(engine)
    clock = FrozenClock(START)
    try:
        customer = await new_customer(sessions, clock)
        for step in steps:
            async with UnitOfWork(sessions) as uow:
                ledger = Ledger(uow, clock)
                match step:
                    case ("earn", points, days, hold):
                        await ledger.earn(customer, points, "gift", timedelta(days=days),
                                          hold=timedelta(days=hold))
                    case ("spend", points):
                        before = await ledger.balance(customer)
                        try:
                            await ledger.spend(customer, points, "purchase")
                            assert points <= before
                        except InsufficientPoints:
                            assert points > before
                    case ("wait", days):
                        clock.advance(days=days)
                    case ("expire",):
                        await ledger.expire_due()
                await uow.commit()
            await check_invariants(sessions, clock, customer)
    finally:
        await engine.dispose()
