"""A small shop through a simulated year: customers join in the chat (some with English
messengers, some choosing a language in Settings), buy at random hours, pay with points,
get refunds, rate visits; the real trigger passes run on the moved clock (the daily pass,
the review-request pass in the evening, the hourly expiry), one broadcast goes out, and the
outbox delivers to a recording messenger as time moves on.

At the end the test compares what the program says with what it counted itself: the day
book with the stored rows and /stats with a count receipt by receipt, the trigger report
with its own log of deliveries and purchases, the ledger with its own cashback model, and
it checks the rules that only show over time: one language for everything said to a
customer, at most the daily cap of marketing messages on any shop day a customer receives
them, and expiry warnings told once per burn day, ten shop days before it (later only when
the cap was full), never to the held-out.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from bot.app import Application, build
from bot.channels.base import Channel
from bot.core.clock import FrozenClock
from bot.core.context import ChannelInfo
from bot.core.replies import Reply, Text
from bot.handlers.notices import purchase_notifications
from bot.loyalty.checkout import Checkout, cashback
from bot.loyalty.ledger import Ledger
from bot.loyalty.tiers import current_tier
from bot.marketing import broadcasts
from bot.marketing.reports import WINDOW_DAYS, trigger_report
from bot.marketing.triggers import run_pass
from bot.scheduler.housekeeping import expire_points
from bot.storage.models import (
    Broadcast,
    Customer,
    OutboxMessage,
    PointLot,
    PointOperation,
    TriggerSend,
)
from tests.chat import TELEGRAM_LIKE, ChatUser, owner_settings, text_of
from tests.test_day_book import ZONE, assert_the_book_holds

PEOPLE = 28
FIRST_DAY = date(2026, 1, 5)
DAYS = 365
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


@dataclass
class Delivery:
    message_id: int
    recipient: str
    text: str
    at: datetime
    buttons: list[str]


@dataclass
class Phone(Channel):
    """The messenger as the outbox meets it: records every message with its moment."""

    clock: FrozenClock
    name: str = "telegram"
    got: list[Delivery] = field(default_factory=list)

    def info(self) -> ChannelInfo:
        return TELEGRAM_LIKE

    async def send_text(self, recipient: str, reply: Text) -> None:
        raise AssertionError("the outbox delivers whole messages")

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        payloads = [b.payload for r in replies if isinstance(r, Text) for row in r.buttons
                    for b in row if b.payload]
        self.got.append(Delivery(message_id or 0, recipient, text_of(list(replies)),
                                 self.clock.now(), payloads))


@dataclass
class Person:
    n: int
    messenger: str | None  # the language their Telegram reports
    chosen: str | None  # picked in Settings
    every: int  # days between visits, about
    leaves_after: int  # days after joining they stop coming
    joins: date
    user: ChatUser | None = None
    customer_id: int | None = None

    @property
    def external_id(self) -> str:
        return str(5000 + self.n)

    @property
    def expected_language(self) -> str:
        return self.chosen or (self.messenger if self.messenger in ("ru", "en") else "ru")


@dataclass
class Receipt:
    person: Person
    receipt_id: str
    at: datetime
    amount: int
    spent: int
    earned: int
    count_after: int  # the customer's purchases after this one, as the test counts them
    refunded: bool = False


@dataclass
class Shop:
    app: Application
    clock: FrozenClock
    phone: Phone
    people: list[Person]
    receipts: list[Receipt] = field(default_factory=list)
    counts: Counter[int] = field(default_factory=Counter)  # purchases per person, own count
    rated_up_to: int = 0  # deliveries looked at for review requests

    async def flush(self, moment: datetime) -> None:
        self.clock.set(moment)
        await self.app.outbox.send_due()

    async def join(self, person: Person, moment: datetime) -> None:
        self.clock.set(moment)
        person.user = ChatUser(self.app.core, TELEGRAM_LIKE, person.external_id,
                               name=f"Guest {person.n}", language=person.messenger)
        await person.user.sign_up(phone=f"+7901{person.n:07d}",
                                  birthday=f"{1 + person.n % 28:02d}.{1 + person.n % 12:02d}")
        if person.chosen:
            await person.user.press(f"settings:lang:{person.chosen}")
        async with self.app.core.unit_of_work() as uow:
            person.customer_id = (await uow.session.execute(select(Customer.id).where(
                Customer.phone == f"+7901{person.n:07d}"))).scalar_one()

    async def buy(self, person: Person, moment: datetime, amount: int, with_points: bool) -> None:
        self.clock.set(moment)
        assert person.customer_id is not None
        async with self.app.core.unit_of_work() as uow:
            checkout = Checkout(uow, self.clock, self.app.settings.program)
            customer = await uow.customers.get(person.customer_id)
            spend = await checkout.cap_for(customer, amount) if with_points else 0
            result = await checkout.purchase(
                customer_id=person.customer_id, outlet_id=(await uow.outlets.default()).id,
                receipt_id=f"R{len(self.receipts)}", amount=amount, spend=spend)
            await self.app.core.notifier.enqueue(
                uow, purchase_notifications(result, self.app.settings), moment)
            await uow.commit()
        self.counts[person.n] += 1
        self.receipts.append(Receipt(person, result.receipt_id, moment, amount, spend,
                                     result.earned, self.counts[person.n]))

    async def refund(self, receipt: Receipt, moment: datetime) -> None:
        self.clock.set(moment)
        async with self.app.core.unit_of_work() as uow:
            await Checkout(uow, self.clock, self.app.settings.program).refund(
                outlet_id=(await uow.outlets.default()).id, receipt_id=receipt.receipt_id)
            await uow.commit()
        receipt.refunded = True
        self.counts[receipt.person.n] -= 1

    async def rate_what_was_asked(self, moment: datetime) -> None:
        """A customer who got a review request answers it, now and then."""
        self.clock.set(moment)
        fresh, self.rated_up_to = self.phone.got[self.rated_up_to:], len(self.phone.got)
        for delivery in fresh:
            stars = [p for p in delivery.buttons if p.startswith("review:") and p.endswith(":5")]
            if stars and delivery.message_id % 3 == 0:
                person = next(p for p in self.people if p.external_id == delivery.recipient)
                assert person.user is not None
                await person.user.press(stars[0])
                await person.user.press("feedback:skip")

    async def broadcast(self, moment: datetime) -> None:
        self.clock.set(moment)
        async with self.app.core.unit_of_work() as uow:
            draft = Broadcast(status="draft", text="Новое меню / New menu", segment="all",
                              created_at=moment)
            uow.session.add(draft)
            await uow.session.flush()
            await broadcasts.start(uow, draft.id, moment, self.app.settings)
            await uow.commit()
        await broadcasts.enqueue(self.app.core, draft.id)


def plan(rng: random.Random) -> list[Person]:
    people = []
    for n in range(PEOPLE):
        messenger = "en" if n % 5 < 2 else rng.choice(["ru", "ru", None, "uk"])  # 40 % English
        chosen = {3: "ru", 7: "en"}.get(n % 10)  # some pick a language in Settings
        people.append(Person(n, messenger, chosen, every=rng.choice([6, 10, 20, 35, 60]),
                             leaves_after=rng.choice([60, 120, 200, 400, 400]),
                             joins=FIRST_DAY + timedelta(days=rng.randrange(60))))
    return people


async def live_the_year(shop: Shop, rng: random.Random) -> None:
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        shop.clock.set(at(day, 0, 5))
        await expire_points(shop.app.core)  # hourly in the app; nothing burns at other hours
        await shop.flush(at(day, 10, 0))  # what waited out the quiet hours
        await run_pass(shop.app.core, at(day, 10, 5))  # the daily pass
        await shop.flush(at(day, 10, 6))
        for person in shop.people:
            if day == person.joins:
                await shop.join(person, at(day, 9 + person.n % 3, 30))
        visits = sorted(
            ((at(day, rng.randrange(10, 21), rng.randrange(60)), person)
             for person in shop.people
             if person.customer_id is not None and day > person.joins
             and (day - person.joins).days < person.leaves_after and rng.random() < 1 / person.every),
            key=lambda visit: (visit[0], visit[1].n))
        for moment, person in visits:
            await shop.buy(person, moment, rng.randrange(200, 3000) * 100, rng.random() < 0.2)
        for receipt in [r for r in shop.receipts if not r.refunded
                        and day - timedelta(days=1) == r.at.astimezone(ZONE).date()]:
            if rng.random() < 0.03:
                await shop.refund(receipt, at(day, 12, 0))
        await shop.rate_what_was_asked(at(day, 10, 30))  # the requests that came this morning
        # the review requests' pass (hourly in the app): at 23:35 they wait out the quiet hours
        await run_pass(shop.app.core, at(day, 23, 35), triggers=("review_request",))
        if offset == 200:
            await shop.broadcast(at(day, 18, 0))
            await shop.flush(at(day, 20, 59))
    await expire_points(shop.app.core)


async def test_a_year_of_a_small_shop(db_url):
    settings = owner_settings(db_url, shop={"name": "Coffee Point", "timezone": ZONE.key},
                              outbox={"telegram_per_second": 10_000,
                                      "telegram_per_chat_per_second": 10_000})
    clock = FrozenClock(at(FIRST_DAY, 0))
    app = await build(settings, clock)
    phone = Phone(clock)
    app.core.notifier.channels.clear()
    app.core.notifier.channels["telegram"] = phone
    rng = random.Random(2026)
    shop = Shop(app, clock, phone, plan(rng))
    try:
        await live_the_year(shop, rng)
        await the_book_holds(shop)
        await the_ledger_holds(shop)
        await the_trigger_report_holds(shop)
        await everyone_heard_their_language(shop)
        await the_cap_holds(shop)
        await expiry_warnings_hold(shop)
    finally:
        await app.close()


# --- what the test checks -------------------------------------------------------------------------

async def the_book_holds(shop: Shop) -> None:
    today = shop.clock.now().astimezone(ZONE).date()
    async with shop.app.core.unit_of_work() as uow:
        await assert_the_book_holds(uow, shop.clock.now(), [
            (today - timedelta(days=29), today), (FIRST_DAY, today),
            (date(2026, 6, 1), date(2026, 6, 30))])
        issued = (await uow.session.execute(select(func.sum(PointOperation.amount)).where(
            PointOperation.reason == "gift"))).scalar_one()
        assert issued > 0  # the trigger gifts are in the book the check compared


async def the_ledger_holds(shop: Shop) -> None:
    """Cashback as the test computes it from the tiers, points issued by reason, and the
    lots holding exactly what the operations left."""
    program = shop.app.settings.program
    for receipt in shop.receipts:
        tier = current_tier(receipt.count_after, program)
        assert receipt.earned == cashback(receipt.amount - receipt.spent * 100, tier), receipt
    members = sum(person.customer_id is not None for person in shop.people)
    async with shop.app.core.unit_of_work() as uow:
        by_reason = dict((await uow.session.execute(
            select(PointOperation.reason, func.sum(PointOperation.amount))
            .where(PointOperation.amount > 0).group_by(PointOperation.reason))).all())
        assert by_reason["welcome"] == members * program.welcome_bonus
        assert by_reason["purchase"] == sum(r.earned for r in shop.receipts)
        gifts = (await uow.session.execute(select(func.sum(TriggerSend.points_given)))).scalar_one()
        assert by_reason["gift"] == gifts
        assert by_reason.get("review", 0) > 0
        for person in shop.people:
            operations = (await uow.session.execute(select(func.sum(PointOperation.amount)).where(
                PointOperation.customer_id == person.customer_id))).scalar_one()
            lots = (await uow.session.execute(select(func.sum(PointLot.remaining)).where(
                PointLot.customer_id == person.customer_id))).scalar_one()
            assert operations == lots >= 0
            balance = await Ledger(uow, shop.clock).balance(person.customer_id)
            live = (await uow.session.execute(select(func.coalesce(func.sum(PointLot.remaining), 0))
                    .where(PointLot.customer_id == person.customer_id,
                           PointLot.expires_at > shop.clock.now(),
                           PointLot.available_at <= shop.clock.now()))).scalar_one()
            assert balance == live


async def sends_by_message(shop: Shop) -> dict[int, TriggerSend]:
    async with shop.app.core.unit_of_work() as uow:
        return {send.outbox_message_id: send for send in
                (await uow.session.execute(select(TriggerSend))).scalars()
                if send.outbox_message_id is not None}


async def the_trigger_report_holds(shop: Shop) -> None:
    """Per trigger: delivered from the messenger's own log; came back, purchases and revenue
    from the test's own receipts (within the window after the customer was picked)."""
    sends = await sends_by_message(shop)
    delivered = Counter(sends[d.message_id].trigger for d in shop.phone.got if d.message_id in sends)
    async with shop.app.core.unit_of_work() as uow:
        every = list((await uow.session.execute(select(TriggerSend))).scalars())
        report = {s.trigger: s for s in await trigger_report(
            uow, at(FIRST_DAY, 0), shop.clock.now() + timedelta(days=1))}
    window = timedelta(days=WINDOW_DAYS)
    customer_of = {person.customer_id: person for person in shop.people}
    assert set(report) >= {"win_back_30", "birthday", "review_request", "expiry_warning",
                           "balance_digest"}
    for trigger, stats in report.items():
        mine = [s for s in every if s.trigger == trigger]
        recipients = [s for s in mine if not s.held_out and s.outbox_message_id is not None]
        assert (stats.eligible, stats.held_out, stats.sent) == (
            len(mine), sum(s.held_out for s in mine), len(recipients)), trigger
        assert stats.delivered == delivered[trigger], trigger
        bought = [[r for r in shop.receipts if r.person is customer_of[s.customer_id]
                   and not r.refunded and s.created_at < r.at <= s.created_at + window]
                  for s in recipients]
        assert stats.recipients.came_back == sum(1 for b in bought if b), trigger
        assert stats.recipients.purchases == sum(len(b) for b in bought), trigger
        assert stats.recipients.revenue == sum(r.amount for b in bought for r in b), trigger


async def everyone_heard_their_language(shop: Shop) -> None:
    by_id = {person.external_id: person for person in shop.people}
    heard: Counter[str] = Counter()
    for delivery in shop.phone.got:
        person = by_id[delivery.recipient]
        if "Новое меню / New menu" in delivery.text:
            continue  # the owner's own words, in no particular language
        russian = bool(CYRILLIC.search(delivery.text))
        assert russian == (person.expected_language == "ru"), (person, delivery.text)
        heard[person.expected_language] += 1
    assert heard["en"] > 200 and heard["ru"] > 200  # both kinds of customer heard a lot


async def the_cap_holds(shop: Shop) -> None:
    """On any shop day a customer receives them, the triggers' messages and the broadcasts
    that came before them that day stay within the cap (a broadcast is the owner's own
    decision and goes out anyway; the triggers make way for it)."""
    cap = shop.app.settings.triggers.daily_marketing_cap
    sends = await sends_by_message(shop)
    async with shop.app.core.unit_of_work() as uow:
        marketing = set((await uow.session.execute(select(OutboxMessage.id).where(
            OutboxMessage.category == "marketing"))).scalars())
    so_far: Counter[tuple[str, date]] = Counter()
    triggered = 0
    for delivery in sorted(shop.phone.got, key=lambda d: (d.at, d.message_id)):
        if delivery.message_id not in marketing:
            continue
        day = (delivery.recipient, delivery.at.astimezone(ZONE).date())
        so_far[day] += 1
        if delivery.message_id in sends:
            triggered += 1
            assert so_far[day] <= cap, (day, sends[delivery.message_id].trigger)
    assert triggered > 500


async def expiry_warnings_hold(shop: Shop) -> None:
    sends = await sends_by_message(shop)
    async with shop.app.core.unit_of_work() as uow:
        held = {(s.customer_id, s.episode) for s in (await uow.session.execute(
            select(TriggerSend).where(TriggerSend.trigger == "expiry_warning",
                                      TriggerSend.held_out.is_(True)))).scalars()}
        marketing = set((await uow.session.execute(select(OutboxMessage.id).where(
            OutboxMessage.category == "marketing"))).scalars())
    days = shop.app.settings.triggers.expiry_warning.days
    busy = {(d.recipient, d.at.astimezone(ZONE).date()) for d in shop.phone.got
            if d.message_id in marketing}
    told: Counter[tuple[int, str]] = Counter()
    warnings = 0
    for delivery in shop.phone.got:
        send = sends.get(delivery.message_id)
        if send is None or send.trigger != "expiry_warning":
            continue
        warnings += 1
        told[(send.customer_id, send.episode)] += 1
        assert (send.customer_id, send.episode) not in held
        burns, on = date.fromisoformat(send.episode), delivery.at.astimezone(ZONE).date()
        assert burns - timedelta(days=days) <= on < burns
        for late in range((on - (burns - timedelta(days=days))).days):  # only when the cap was full
            day = burns - timedelta(days=days) + timedelta(days=late)
            assert (delivery.recipient, day) in busy, (send.episode, on)
    assert warnings > 10 and max(told.values()) == 1  # told once per burn day
