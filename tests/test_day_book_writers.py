"""One way to the rows the day book counts: whoever writes (sign-ups, purchases and
refunds, referral and review bonuses, rewards, adjustments by hand, imports, trigger passes
with gifts, broadcasts, the expiry pass, erasures, merges of two cards), the kept book
equals the book counted from the stored rows and /stats equals the same figures counted
receipt by receipt; a write that would bypass the book is refused; ``loyalty-bot stats
check`` and the nightly upkeep notice and repair a book that drifted."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update

from bot.app import Application, build
from bot.cli import main as cli
from bot.core.clock import FrozenClock
from bot.loyalty.checkout import Checkout
from bot.loyalty.importer import CsvRow, import_customers
from bot.loyalty.ledger import Ledger
from bot.marketing import broadcasts
from bot.marketing.triggers import run_pass
from bot.scheduler.housekeeping import check_day_book, expire_points
from bot.storage import day_book
from bot.storage.models import Broadcast, Customer, PointOperation, Purchase, SharedPhone, StatsDay
from bot.storage.session import BookError
from tests.chat import OWNER, TELEGRAM_LIKE, WEB_LIKE, ChatUser, owner_settings, payloads_of
from tests.test_day_book import ZONE, assert_the_book_holds, fresh_db, local_day  # noqa: F401 - a fixture

START = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)  # 12:30 in the shop (+05:30)
PEOPLE = 5
numbers = itertools.count()


def shop_settings(url: str):  # type: ignore[no-untyped-def]
    """A shop in +05:30 whose triggers give points, with a holdout and no quiet hours."""
    return owner_settings(url, shop={"name": "Coffee Point", "timezone": ZONE.key},
                          triggers={"holdout_percent": 20, "quiet_start": "00:00",
                                    "quiet_end": "00:00", "daily_marketing_cap": 3,
                                    "win_back_30": {"days": 5}, "win_back_60": {"days": 9},
                                    "win_back_90": {"days": 14},
                                    "balance_digest": {"gift_points": 15}})


class Shop:
    """The app on a moved clock, its people and a cashier (the owner), every write through
    the product's own paths."""

    def __init__(self, app: Application, clock: FrozenClock) -> None:
        self.app, self.clock = app, clock
        self.people: list[ChatUser | None] = [None] * PEOPLE
        self.owner = ChatUser(app.core, TELEGRAM_LIKE, OWNER, name="Owner")

    def person(self, who: int) -> ChatUser:
        return ChatUser(self.app.core, TELEGRAM_LIKE, f"10{who}", name=f"Person {who}")

    async def customer_of(self, who: int) -> Customer | None:
        async with self.app.core.unit_of_work() as uow:
            return (await uow.session.execute(select(Customer).join(Customer.identities).where(
                Customer.identities.any(external_id=f"10{who}")))).scalars().first()

    async def join(self, who: int, referrer: int | None) -> None:
        if self.people[who] is not None:
            return
        user = self.person(who)
        invited_by = await self.customer_of(referrer) if referrer is not None else None
        code = invited_by.referral_code if invited_by else None
        start = f"/start ref-{code}" if code else "/start"
        await user.send(start)
        await user.press("consent:yes")
        await user.share_contact(f"+7900{who:07d}")
        await user.press("name:profile")
        await user.send(f"{1 + who:02d}.0{1 + who % 9}.1990")
        self.people[who] = user

    async def buy(self, who: int, amount: int, back: int, with_points: bool) -> None:
        customer = await self.customer_of(who)
        if customer is None:
            return
        async with self.app.core.unit_of_work() as uow:
            checkout = Checkout(uow, self.clock, self.app.settings.program)
            spend = await checkout.cap_for(customer, amount * 100) if with_points else 0
            await checkout.purchase(customer_id=customer.id, outlet_id=(await uow.outlets.default()).id,
                                    receipt_id=f"r{next(numbers)}", amount=amount * 100, spend=spend,
                                    occurred_at=self.clock.now() - timedelta(days=back))
            await uow.commit()

    async def refund(self, index: int, full: bool) -> None:
        async with self.app.core.unit_of_work() as uow:
            receipts = (await uow.session.execute(select(Purchase.receipt_id).where(
                Purchase.amount > Purchase.refunded_amount).order_by(Purchase.id))).scalars().all()
            if not receipts:
                return
            purchase = await uow.purchases.by_receipt((await uow.outlets.default()).id,
                                                      receipts[index % len(receipts)])
            left = purchase.amount - purchase.refunded_amount
            await Checkout(uow, self.clock, self.app.settings.program).refund(
                outlet_id=purchase.outlet_id, receipt_id=purchase.receipt_id,
                amount=None if full else max(1, left // 3))
            await uow.commit()

    async def rate(self, who: int, rating: int) -> None:
        user, customer = self.people[who], await self.customer_of(who)
        if user is None or customer is None:
            return
        async with self.app.core.unit_of_work() as uow:
            purchase = (await uow.session.execute(select(Purchase.id).where(
                Purchase.customer_id == customer.id).order_by(Purchase.id.desc()))).scalars().first()
        if purchase is not None:
            await user.press(f"review:{purchase}:{rating}")

    async def reward(self, who: int) -> None:
        """The cashier's reward flow in the chat: find the card, list, choose, give."""
        customer = await self.customer_of(who)
        if customer is None:
            return
        await self.owner.send("/checkout")
        await self.owner.send(customer.card_number)
        listed = await self.owner.press(f"co.gifts:{customer.id}")
        choices = [p for p in payloads_of(listed) if p.startswith("co.gift:")]
        if choices:
            confirm = await self.owner.press(choices[0])
            give = [p for p in payloads_of(confirm) if p.startswith("co.give:")]
            await self.owner.press(give[0])

    async def adjust(self, who: int, points: int) -> None:
        customer = await self.customer_of(who)
        if customer is None:
            return
        async with self.app.core.unit_of_work() as uow:
            ledger = Ledger(uow, self.clock)
            if points < 0:
                points = -min(-points, await ledger.balance(customer.id))
            if points:
                await ledger.adjust(customer.id, points, note="test", actor=None,
                                    lifetime=timedelta(days=30))
            await uow.commit()

    async def import_one(self, balance: int) -> None:
        n = next(numbers)
        values = {"phone": f"+7911{n:07d}", "name": f"Imported {n}", "balance": str(balance)}
        row = CsvRow(n + 2, values, list(values.values()))
        async with self.app.core.unit_of_work() as uow:
            await import_customers(uow, [row], self.clock, self.app.settings.program, "RU", False,
                                   secret=self.app.core.services.secret)

    async def broadcast(self) -> None:
        now = self.clock.now()
        async with self.app.core.unit_of_work() as uow:
            draft = Broadcast(status="draft", text="News", segment="all", created_at=now)
            uow.session.add(draft)
            await uow.session.flush()
            started = await broadcasts.start(uow, draft.id, now, self.app.settings)
            await uow.commit()
        if started:
            await broadcasts.enqueue(self.app.core, draft.id)

    async def merge(self, who: int, amount: int) -> None:
        """Someone types this person's number in the web chat, buys there, and the admin
        merges that card into the person's (bot/loyalty/shared_phones.py)."""
        customer = await self.customer_of(who)
        if self.people[who] is None or customer is None:
            return
        twin = ChatUser(self.app.core, WEB_LIKE, f"web-{next(numbers)}", name=f"Twin {who}")
        await twin.sign_up(phone=customer.phone or "", birthday=None)
        async with self.app.core.unit_of_work() as uow:
            pair = (await uow.session.execute(select(SharedPhone).where(
                SharedPhone.verified_customer_id == customer.id, SharedPhone.status == "open")
                .order_by(SharedPhone.id.desc()))).scalars().first()
            checkout = Checkout(uow, self.clock, self.app.settings.program)
            await checkout.purchase(customer_id=pair.typed_customer_id,
                                    outlet_id=(await uow.outlets.default()).id,
                                    receipt_id=f"r{next(numbers)}", amount=amount * 100)
            await uow.commit()
        await self.owner.press(f"merge.yes:{pair.id}")

    async def erase(self, who: int) -> None:
        user = self.people[who]
        if user is not None and await self.customer_of(who) is not None:
            await user.press("settings:delete:confirm")
            self.people[who] = None


async def play(shop: Shop, step: tuple) -> None:  # type: ignore[type-arg]
    match step:
        case ("join", who, referrer):
            await shop.join(who, referrer)
        case ("buy", who, amount, back, with_points):
            await shop.buy(who, amount, back, with_points)
        case ("refund", index, full):
            await shop.refund(index, full)
        case ("rate", who, rating):
            await shop.rate(who, rating)
        case ("reward", who):
            await shop.reward(who)
        case ("adjust", who, points):
            await shop.adjust(who, points)
        case ("import", balance):
            await shop.import_one(balance)
        case ("pass",):
            await run_pass(shop.app.core, shop.clock.now())
        case ("broadcast",):
            await shop.broadcast()
        case ("expire",):
            await expire_points(shop.app.core)
        case ("erase", who):
            await shop.erase(who)
        case ("merge", who, amount):
            await shop.merge(who, amount)
        case ("wait", days, hours):
            shop.clock.advance(days=days, hours=hours)


async def the_book_holds(shop: Shop) -> None:
    today = local_day(shop.clock.now())
    async with shop.app.core.unit_of_work() as uow:
        await assert_the_book_holds(uow, shop.clock.now(), [
            (today - timedelta(days=29), today), (today, today), (today - timedelta(days=200), today)])


async def open_shop(url: str, at: datetime = START) -> Shop:
    clock = FrozenClock(at)
    app = await build(shop_settings(url), clock)
    app.core.notifier.channels.clear()  # nobody reachable: messages stay queued, unsent
    app.core.notifier.channels["telegram"] = _Nowhere()
    return Shop(app, clock)


class _Nowhere:
    name = "telegram"

    async def deliver(self, recipient, replies, message_id=None) -> None:  # type: ignore[no-untyped-def]
        pass


# --- the required one: a trigger pass with gifts, a broadcast and the expiry pass -----------------

async def test_a_trigger_pass_a_broadcast_and_the_expiry_pass_keep_the_book(any_db_url):
    shop = await open_shop(any_db_url)
    try:
        for who in range(4):
            await shop.join(who, 0 if who == 3 else None)
            await shop.buy(who, 400 + 100 * who, 0, False)
        await shop.buy(1, 300, 0, True)
        shop.clock.advance(days=10)  # past win-back 60's 9 days: +300 gifts
        planned = await run_pass(shop.app.core, shop.clock.now())
        assert sum(p.points for p in planned) > 0  # gifts went through the batched ledger path
        await shop.broadcast()
        shop.clock.advance(days=120)  # the welcome and gift points burn
        assert await expire_points(shop.app.core) > 0
        await shop.refund(0, True)
        await the_book_holds(shop)
    finally:
        await shop.app.close()


# --- every writer, in any order ------------------------------------------------------------------

people = st.integers(0, PEOPLE - 1)
steps = st.lists(st.one_of(
    st.tuples(st.just("join"), people, st.none() | people),
    st.tuples(st.just("join"), people, st.none() | people),
    st.tuples(st.just("buy"), people, st.integers(1, 5000), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("buy"), people, st.integers(1, 5000), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("rate"), people, st.integers(1, 5)),
    st.tuples(st.just("reward"), people),
    st.tuples(st.just("adjust"), people, st.integers(-300, 300)),
    st.tuples(st.just("import"), st.integers(0, 500)),
    st.tuples(st.just("pass"),), st.tuples(st.just("pass"),),
    st.tuples(st.just("broadcast"),),
    st.tuples(st.just("expire"),),
    st.tuples(st.just("erase"), people),
    st.tuples(st.just("merge"), people, st.integers(1, 5000)),
    st.tuples(st.just("wait"), st.integers(0, 20), st.integers(0, 23)),
    st.tuples(st.just("wait"), st.integers(0, 20), st.integers(0, 23)),
), min_size=5, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
async def test_every_writer_keeps_the_book(fresh_db, steps):
    shop = await open_shop(fresh_db())
    try:
        for step in steps:
            await play(shop, step)
        await the_book_holds(shop)
    finally:
        await shop.app.close()


# --- what would bypass the book is refused -------------------------------------------------------

async def test_writes_that_would_bypass_the_book_are_refused(app, chat):
    await chat("42").sign_up()
    core = app.core
    bulk = [insert(Purchase).values(outlet_id=1, receipt_id="x", customer_id=1, amount=1,
                                    points_spent=0, points_earned=0, balance_after=0,
                                    request_hash="x", source="pos", occurred_at=START,
                                    created_at=START),
            update(PointOperation).values(amount=5),
            update(Customer).values(registered_at=START)]
    for statement in bulk:
        async with core.unit_of_work() as uow:
            with pytest.raises(BookError, match="bypasses the day book"):
                await uow.session.execute(statement)
    async with core.unit_of_work() as uow:  # a recorded operation is a fact
        operation = (await uow.session.execute(select(PointOperation))).scalars().first()
        operation.amount += 1
        with pytest.raises(BookError, match="amount of a recorded row changed"):
            await uow.session.flush()
    async with core.sessions() as session:  # a session that is not a unit of work
        session.add(PointOperation(customer_id=1, kind="earn", reason="gift", amount=5,
                                   created_at=START))
        with pytest.raises(BookError, match="outside a unit of work"):
            await session.flush()
    async with core.unit_of_work() as uow:  # committed past the unit of work
        await Ledger(uow, core.services.clock).earn(1, 5, "gift", timedelta(days=1))
        with pytest.raises(BookError, match="commit through the unit of work"):
            await uow.session.commit()
    async with core.unit_of_work() as uow:
        assert (await day_book.check(uow.session)).holds


# --- noticing a book that drifted ----------------------------------------------------------------

async def drift(app: Application) -> date:
    """Take 7 points out of a kept day by hand, as a write that forgot the book would."""
    async with app.core.unit_of_work() as uow:
        day = (await uow.session.execute(select(StatsDay.day).where(
            StatsDay.points_issued > 0))).scalars().first()
        await uow.session.execute(update(StatsDay).where(StatsDay.day == day)
                                  .values(points_issued=StatsDay.points_issued - 7))
        await uow.commit()
    return day


async def test_stats_check_finds_and_repairs_a_difference(app, chat, settings, capsys, monkeypatch):
    await chat("42").sign_up()
    monkeypatch.setenv("LOYALTY_DATABASE__URL", settings.database.url)

    async def command(*args: str) -> int:  # the CLI runs its own event loop
        return await asyncio.to_thread(cli, ["stats", *args])

    assert await command("check") == 0
    assert "the day book holds" in capsys.readouterr().out
    day = await drift(app)
    assert await command("check") == 1
    out = capsys.readouterr().out
    assert "the day book differs from the stored rows in 1 figure:" in out
    assert f"days {day} points_issued: kept 93, counted 100" in out
    assert await command("check", "--repair") == 1
    assert "repaired" in capsys.readouterr().out
    assert await command("check") == 0


async def test_the_nightly_upkeep_logs_and_repairs_a_difference(app, chat, caplog):
    await chat("42").sign_up()
    assert await check_day_book(app.core) == 0
    day = await drift(app)
    with caplog.at_level(logging.ERROR):
        assert await check_day_book(app.core) == 1
    assert f"days {day} points_issued: kept 93, counted 100" in caplog.text
    assert await check_day_book(app.core) == 0


async def test_a_purchase_and_an_erasure_of_the_same_person_in_one_unit_of_work_keep_the_book(fresh_db):
    """The erasure takes back what the person contributed before the transaction, whatever
    it did to them first (a refund, a purchase, points by hand)."""
    shop = await open_shop(fresh_db())
    try:
        await shop.join(0, None)
        await shop.join(1, 0)
        await shop.buy(0, 300, 2, with_points=False)
        customer = await shop.customer_of(0)
        assert customer is not None
        async with shop.app.core.unit_of_work() as uow:
            checkout = Checkout(uow, shop.clock, shop.app.settings.program)
            outlet = (await uow.outlets.default()).id
            [earlier] = (await uow.session.execute(select(Purchase.receipt_id).where(
                Purchase.customer_id == customer.id))).scalars().all()
            await checkout.refund(outlet_id=outlet, receipt_id=earlier, amount=10_000)
            await checkout.purchase(customer_id=customer.id, outlet_id=outlet, receipt_id="same-unit",
                                    amount=45_000, spend=10, occurred_at=shop.clock.now())
            await Ledger(uow, shop.clock).adjust(customer.id, 7, note="test", actor=None,
                                                 lifetime=timedelta(days=30))
            await uow.customers.erase(customer.id, None, shop.clock.now())
            await uow.commit()
        await the_book_holds(shop)
    finally:
        await shop.app.close()
