"""Random update streams through the conversation core keep the shop's records whole.

A Hypothesis state machine runs a shop on one SQLite file: the owner (the configured
admin), cashiers hired through the owner's /invite links, customers in Telegram and in the
web chat, and a till on the POS API. A step is one thing a person or the world does: typed
text (commands, amounts, someone's card number or phone, emoji, control characters), a
button from one's own replies, from somebody else's (any role) or made up, a shared
contact, a sticker, a sale or refund at the chat checkout or the till, points changed by
the owner, time passing, the scheduled jobs, and a restart of the app on the same file.

After every step:
- nothing escaped a handler (nothing logged at ERROR) and every event got an answer;
- the ledger: each customer's balance as the product reports it is the sum of their live
  lots and never negative; the lots hold what the operations add up to; every positive
  operation has its one lot, every spend is taken from lots exactly, and only lots past
  their expiry lost points other than by spending, as much as the expiry operations say;
- the day book is the one counted from the rows (the product's own check);
- bonuses are given once: welcome, profile and a friend's referral bonus per customer, a
  review bonus per rated purchase, a trigger's gift per send row;
- no half-written rows: each purchase has the point operations of its points, refunds add
  up to what the purchase says, customers' purchase counts and totals match their receipts,
  members are whole, identities have ids, no outbox message is left half-sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import Row, select

from bot.api.customers import ENROLLED_AT_TILL
from bot.app import Application, build
from bot.channels.base import Channel, discard
from bot.core.clock import FrozenClock
from bot.core.context import ChannelInfo
from bot.core.replies import AskContact, Document, Picture, Reply, Text
from bot.handlers.command_menus import ADMIN_COMMANDS
from bot.handlers.registry import build_router
from bot.loyalty.cards import CARD_DIGITS, TOKEN_PREFIX, format_card_number, luhn_check_digit
from bot.marketing.broadcasts import advance as advance_broadcasts
from bot.marketing.triggers import scheduled_hourly_pass, scheduled_pass
from bot.scheduler.housekeeping import expire_points, forget_old_event_ids
from bot.storage import day_book
from bot.storage.models import (
    Customer,
    Identity,
    OutboxMessage,
    PointLot,
    PointOperation,
    PointSpend,
    Purchase,
    Refund,
    Review,
    TriggerSend,
)
from bot.storage.uow import UnitOfWork
from tests.chat import (
    OWNER,
    TELEGRAM_LIKE,
    WEB_LIKE,
    ChatUser,
    channel_info,
    owner_settings,
    payloads_of,
    text_of,
)
from tests.conftest import START, sqlite_url
from tests.till import UNKNOWN_CARD, Till, new_key

RUNS = settings(max_examples=15, stateful_step_count=60, deadline=None, derandomize=True,
                database=None, suppress_health_check=[HealthCheck.too_slow])

# who is in the shop: (external id, channel, messenger language); OWNER is the config's admin
PEOPLE = ((OWNER, TELEGRAM_LIKE, "ru"), ("7", TELEGRAM_LIKE, "ru"), ("8", TELEGRAM_LIKE, "en"),
          ("42", TELEGRAM_LIKE, "ru"), ("43", TELEGRAM_LIKE, None), ("web-44", WEB_LIKE, "en"))
CASHIER, MEMBER, WEB_MEMBER = 1, 3, 5  # signed up or hired before the first step
WHO = st.integers(0, len(PEOPLE) - 1)
STAFF = st.sampled_from([CASHIER, 0, 2])  # those who serve and one who may be hired
MEMBERS = st.sampled_from([MEMBER, WEB_MEMBER, 4])  # those who joined and one who may
KEEP_SEEN = 40  # the buttons a person still has on screen

ROUTER = build_router()
COMMANDS = st.sampled_from([*sorted(ROUTER.commands), "nosuch"])
CONSOLE = st.sampled_from([name for name, _text in ADMIN_COMMANDS])
ARGUMENTS = st.sampled_from(["", "cashier", "admin", "admin Main", "1000", "R1", "C-ZZZZZZ",
                             "staff-nope", "card-nope", "ref_nope"]) | st.text(max_size=12)
AMOUNTS = st.sampled_from(["1500", "4000", "1 500,50", "0", "-5", "1e9", "1,500", "100000000"]) \
    | st.integers(1, 10**7).map(str)
ODD = st.sampled_from(["14.03.1990", "29.02", "31.13.2000", "Anna", "anna@example.com", "🙂🎉",
                       "\x00\x07\u202e", "\u200b", " ", "a" * 300, "+7 900 555-00-03"])
TEXTS = AMOUNTS | ODD | st.text(max_size=40)
MADE_UP = st.builds("{}:{}".format, st.sampled_from(sorted(ROUTER.buttons)),
                    st.integers(-1, 40).map(str) | st.text(max_size=8)) | st.text(max_size=30)
MINUTES = st.integers(1, 180) | st.integers(1, 100).map(lambda days: days * 24 * 60)
JOBS: dict[str, Callable[..., Awaitable[object]]] = {
    "expire points": expire_points, "trigger pass": scheduled_pass,
    "review requests": scheduled_hourly_pass, "broadcasts": advance_broadcasts,
    "forget old ids": forget_old_event_ids}
LINK = re.compile(r"\?start=(\S+)")
SHOPS = itertools.count()
T = TypeVar("T")


def phone_of(who: int) -> str:
    return f"+7900555{who:04d}"


def minor(amount: int) -> str:
    """Minor units as the POS API writes amounts: "1500.00"."""
    return f"{amount // 100}.{amount % 100:02d}"


def answered(replies: list[Reply]) -> bool:
    return any(isinstance(reply, (Text, Picture, AskContact, Document)) for reply in replies)


def first(replies: list[Reply], prefix: str) -> str | None:
    return next((p for p in payloads_of(replies) if p.startswith(prefix)), None)


def card_token(replies: list[Reply]) -> str | None:
    return next((r.cache_key for r in replies if isinstance(r, Picture) and r.cache_key), None)


@dataclass
class Person:
    user: ChatUser
    seen: list[str] = field(default_factory=list)  # payloads of the buttons they were shown

    def saw(self, payloads: list[str]) -> None:
        self.seen = (self.seen + payloads)[-KEEP_SEEN:]

    def shown(self, back: int) -> str | None:
        """A button ``back`` places before the newest one (0 mostly: the last message's)."""
        return self.seen[-1 - back % len(self.seen)] if self.seen else None


@dataclass
class Phone(Channel):
    """A messenger the outbox delivers to: hands each recipient the buttons they were sent."""

    name: str
    people: dict[str, Person]

    def info(self) -> ChannelInfo:
        return channel_info(self.name, verified_contacts=self.name == "telegram")

    async def send_text(self, recipient: str, reply: Text) -> None:
        if recipient in self.people:
            self.people[recipient].saw(payloads_of([reply]))


class Errors(logging.Handler):
    """What the app logged at ERROR: a handler that raised, a job that failed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(logging.Formatter().format(record))


class Shop(RuleBasedStateMachine):
    def __init__(self, template: Path, folder: Path) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.path = folder / f"shop-{next(SHOPS)}.db"
        shutil.copy(template, self.path)
        self.settings = owner_settings(
            sqlite_url(self.path), web={"chat_enabled": False},  # the Phone stands in for it
            outbox={"telegram_per_second": 10_000, "telegram_per_chat_per_second": 1_000},
            program={"purchase_points_hold_days": 1})  # so that some points are pending
        self.clock = FrozenClock(START)
        self.errors = Errors()
        logging.getLogger("bot").addHandler(self.errors)
        self.people: dict[str, Person] = {}
        self.links: list[str] = []  # /start payloads anyone was shown: invites, referrals
        self.key = ""
        self.run(self.open())
        self.run(self.first_day())

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        try:
            self.run(self.close())
        finally:
            self.loop.close()
            logging.getLogger("bot").removeHandler(self.errors)
            self.path.unlink(missing_ok=True)

    # --- the app, its till and the people's chats ----------------------------------------------

    async def open(self) -> None:
        self.app: Application = await build(self.settings, self.clock)
        for name in ("telegram", "web"):
            self.app.core.notifier.channels[name] = Phone(name, self.people)
        self.key = self.key or await new_key(self.app)
        self.till = Till(self.app, TestClient(TestServer(self.app.web)), self.key)
        await self.till.client.start_server()
        for external_id, channel, language in PEOPLE:
            person = self.people.setdefault(external_id, Person(ChatUser(
                self.app.core, channel, external_id, language=language)))
            person.user.core, person.user.flush = self.app.core, self.app.outbox.send_due

    async def close(self) -> None:
        await self.till.client.close()
        await self.app.close()

    async def first_day(self) -> None:
        await self.hire_person(CASHIER, "cashier")
        await self.join(MEMBER, birthday="14.03.1990")
        await self.join(WEB_MEMBER, birthday=None)

    def person(self, who: int) -> Person:
        return self.people[PEOPLE[who][0]]

    async def act(self, who: int, what: str,
                  event: Callable[[ChatUser], Awaitable[list[Reply]]]) -> list[Reply]:
        """One event from one person: it must be answered and nothing may fail on the way."""
        person = self.person(who)
        note(f"{person.user.external_id} {what}")
        replies = await event(person.user)
        assert not self.errors.found, "\n".join(self.errors.found)
        assert answered(replies), f"{person.user.external_id} got no answer to {what}: {replies}"
        person.saw(payloads_of(replies))
        self.links += LINK.findall(text_of(replies))
        for reply in replies:
            if isinstance(reply, Document):
                discard(reply)
        return replies

    def send(self, who: int, text: str) -> Awaitable[list[Reply]]:
        return self.act(who, f"types {text!r}", lambda user: user.send(text))

    def press(self, who: int, payload: str) -> Awaitable[list[Reply]]:
        return self.act(who, f"presses {payload!r}", lambda user: user.press(payload))

    async def customer_of(self, who: int) -> Customer | None:
        external_id = PEOPLE[who][0]
        async with self.app.core.unit_of_work() as uow:
            return (await uow.session.execute(select(Customer).join(Identity).where(
                Identity.external_id == external_id))).scalar_one_or_none()

    async def receipts(self) -> list[str]:
        async with self.app.core.unit_of_work() as uow:
            return list((await uow.session.execute(
                select(Purchase.receipt_id).order_by(Purchase.id))).scalars())

    # --- what people do ------------------------------------------------------------------------

    async def join(self, who: int, birthday: str | None) -> None:
        await self.send(who, "/start")
        await self.press(who, "consent:yes")
        if PEOPLE[who][1].verified_contacts:
            await self.act(who, "shares their contact",
                           lambda user: user.share_contact(phone_of(who)))
        else:
            await self.send(who, phone_of(who))
        await self.press(who, "name:profile")
        await (self.send(who, birthday) if birthday else self.press(who, "birthday:skip"))

    async def hire_person(self, who: int, role: str) -> None:
        invite = LINK.findall(text_of(await self.send(0, f"/invite {role}")))
        if invite:
            await self.send(who, f"/start {invite[0]}")

    @rule(who=MEMBERS | WHO, birthday=st.sampled_from([None, "14.03.1990", "01.01"]))
    def sign_up(self, who: int, birthday: str | None) -> None:
        self.run(self.join(who, birthday))

    @rule(who=WHO, role=st.sampled_from(["cashier", "admin"]))
    def hire(self, who: int, role: str) -> None:
        self.run(self.hire_person(who, role))

    @rule(who=MEMBERS, friend=WHO)
    def invite_a_friend(self, who: int, friend: int) -> None:
        async def invite() -> None:
            if link := LINK.findall(text_of(await self.press(who, "friends"))):
                await self.send(friend, f"/start {link[0]}")
        self.run(invite())

    @rule(who=st.sampled_from([4, WEB_MEMBER, MEMBER]), sure=st.booleans())
    def leave_the_program(self, who: int, sure: bool) -> None:
        """Settings, «Delete my data», then «Yes, delete everything» or «Cancel»."""
        async def leave() -> None:
            step = await self.press(who, "settings")
            for payload in ("settings:delete", "settings:delete:confirm" if sure else "settings"):
                if payload not in payloads_of(step):
                    return
                step = await self.press(who, payload)
        self.run(leave())

    @rule(who=WHO, text=TEXTS)
    def type_text(self, who: int, text: str) -> None:
        self.run(self.send(who, text))

    @rule(who=WHO, command=COMMANDS, argument=ARGUMENTS)
    def send_command(self, who: int, command: str, argument: str) -> None:
        self.run(self.send(who, f"/{command} {argument}"))

    @rule(command=CONSOLE, argument=ARGUMENTS)
    def owner_opens_the_console(self, command: str, argument: str) -> None:
        self.run(self.send(0, f"/{command} {argument}"))

    @rule(who=WHO, whose=WHO, shown=st.sampled_from(["card", "spaced card", "phone"]))
    def type_someones_number(self, who: int, whose: int, shown: str) -> None:
        async def typed() -> None:
            customer = await self.customer_of(whose)
            number = customer.card_number if customer else UNKNOWN_CARD
            await self.send(who, {"card": number, "spaced card": format_card_number(number),
                                  "phone": phone_of(whose)}[shown])
        self.run(typed())

    @rule(who=WHO, back=st.integers(0, KEEP_SEEN))
    def press_own_button(self, who: int, back: int) -> None:
        if button := self.person(who).shown(back):
            self.run(self.press(who, button))

    @rule(who=WHO, whose=WHO, back=st.integers(0, KEEP_SEEN))
    def press_someone_elses_button(self, who: int, whose: int, back: int) -> None:
        if button := self.person(whose).shown(back):
            self.run(self.press(who, button))

    @rule(who=WHO, payload=MADE_UP)
    def press_made_up_button(self, who: int, payload: str) -> None:
        self.run(self.press(who, payload))

    @rule(who=WHO, pick=st.integers(0, 20))
    def open_a_link(self, who: int, pick: int) -> None:
        if self.links:
            self.run(self.send(who, f"/start {self.links[pick % len(self.links)]}"))

    @rule(who=WHO, whose=WHO, own=st.booleans())
    def share_contact(self, who: int, whose: int, own: bool) -> None:
        self.run(self.act(who, f"shares {phone_of(whose)} (own: {own})",
                          lambda user: user.share_contact(phone_of(whose), own)))

    @rule(who=WHO)
    def sticker(self, who: int) -> None:
        self.run(self.act(who, "sends a sticker", lambda user: user.sticker()))

    @rule(cashier=STAFF, customer=MEMBERS, amount=st.integers(1, 20_000).map(str) | AMOUNTS,
          spend=st.booleans())
    def sell_in_the_chat(self, cashier: int, customer: int, amount: str, spend: bool) -> None:
        """The customer shows the card, the cashier scans it, types the amount, chooses to
        earn or to pay with points and confirms; it stops where a button is missing."""
        async def sale() -> None:
            token = card_token(await self.press(customer, "card"))
            if token is None:
                return
            await self.send(cashier, f"/start {TOKEN_PREFIX}{token}")
            step = await self.send(cashier, amount)
            for prefix in ("co.spend:", "co.pay:") if spend else ("co.earn:",):
                if (payload := first(step, prefix)) is None:
                    return
                step = await self.press(cashier, payload)
            if confirm := first(step, "co.ok:"):
                await self.press(cashier, confirm)
        self.run(sale())

    @rule(cashier=STAFF, pick=st.integers(0, 50), part=st.none() | AMOUNTS)
    def refund_in_the_chat(self, cashier: int, pick: int, part: str | None) -> None:
        async def refund() -> None:
            receipts = await self.receipts()
            if not receipts:
                return
            ask = await self.send(cashier, f"/refund {receipts[pick % len(receipts)]} {part or ''}")
            if confirm := first(ask, "rf.ok:"):
                await self.press(cashier, confirm)
        self.run(refund())

    @rule(whose=MEMBERS, points=st.integers(1, 500), take=st.booleans())
    def owner_changes_points(self, whose: int, points: int, take: bool) -> None:
        async def change() -> None:
            customer = await self.customer_of(whose)
            if customer is None:
                return
            card = await self.send(0, f"/customer {customer.card_number}")
            if (start := first(card, "cu.take:" if take else "cu.add:")) is None:
                return
            await self.press(0, start)
            await self.send(0, str(points))
            if confirm := first(await self.send(0, "stateful test"), "cu.ok:"):
                await self.press(0, confirm)
        self.run(change())

    @rule(whose=MEMBERS, amount=st.integers(1, 10**6), spend=st.just(0) | st.integers(0, 400),
          receipt=st.integers(0, 8))
    def till_sells(self, whose: int, amount: int, spend: int, receipt: int) -> None:
        """A till records a purchase; a receipt id seen before is a retry or a conflict."""
        async def sale() -> None:
            customer = await self.customer_of(whose)
            card = customer.card_number if customer else UNKNOWN_CARD
            note(f"till: R{receipt} of {minor(amount)} on {card}, {spend} points")
            status, body = await self.till.buy(card=card, amount=minor(amount),
                                               receipt_id=f"R{receipt}", spend_points=spend)
            assert status < 500, body
        self.run(sale())

    @rule(pick=st.integers(0, 50), amount=st.none() | st.integers(1, 10**6),
          refund_id=st.sampled_from([None, "a", "b"]))
    def till_refunds(self, pick: int, amount: int | None, refund_id: str | None) -> None:
        async def refund() -> None:
            receipts = await self.receipts()
            if not receipts:
                return
            body = {"amount": minor(amount) if amount else None, "refund_id": refund_id}
            receipt = receipts[pick % len(receipts)]
            note(f"till: refund of {receipt}: {body}")
            status, answer = await self.till.refund(receipt, body)
            assert status < 500, answer
        self.run(refund())

    @rule(whose=WHO)
    def till_enrols(self, whose: int) -> None:
        async def enrol() -> None:
            note(f"till: enrols {phone_of(whose)}")
            status, body = await self.till.enrol(phone=phone_of(whose), name="Anna")
            assert status < 500, body
        self.run(enrol())

    # --- what the world does -------------------------------------------------------------------

    @rule(minutes=MINUTES, restart=st.booleans())
    def time_passes(self, minutes: int, restart: bool) -> None:
        """Time passes; now and then the app is restarted meanwhile (a deploy) and comes
        back on the same database."""
        if restart:
            self.run(self.close())
        self.clock.advance(minutes=minutes)
        if restart:
            self.run(self.open())

    @rule(job=st.sampled_from(["every job", *JOBS]))
    def scheduled_job(self, job: str) -> None:
        async def run_jobs() -> None:
            for name in JOBS if job == "every job" else [job]:
                await JOBS[name](self.app.core)
            await self.app.outbox.send_due()
        self.run(run_jobs())

    # --- what must hold after every step -------------------------------------------------------

    @invariant()
    def nothing_failed(self) -> None:
        assert not self.errors.found, "\n".join(self.errors.found)

    @invariant()
    def records_are_whole(self) -> None:
        async def check() -> None:
            async with self.app.core.unit_of_work() as uow:
                stored = await Stored.read(uow)
                now = self.clock.now()
                balances = {customer.id: await uow.lots.available_balance(customer.id, now)
                            for customer in stored.customers}
                found = await day_book.check(uow.session)
            ledger_holds(stored, balances, now)
            bonuses_are_given_once(stored)
            purchases_are_whole(stored)
            people_are_whole(stored)
            assert found.holds, found.lines()
        self.run(check())


@dataclass(frozen=True)
class Stored:
    """The rows the checks read, as plain tuples with named columns, in one transaction."""

    operations: list[Row]
    lots: list[Row]
    spends: list[Row]
    purchases: list[Row]
    refunds: list[Row]
    customers: list[Row]
    identities: list[Row]
    reviews: list[Row]
    trigger_sends: list[Row]
    half_sent: list[Row]  # outbox messages claimed and never recorded as sent or not

    @classmethod
    async def read(cls, uow: UnitOfWork) -> Stored:
        async def table(model: type, *where: object) -> list[Row]:
            return list(await uow.session.execute(select(model.__table__).where(*where)))
        return cls(await table(PointOperation), await table(PointLot), await table(PointSpend),
                   await table(Purchase), await table(Refund), await table(Customer),
                   await table(Identity), await table(Review), await table(TriggerSend),
                   await table(OutboxMessage, OutboxMessage.status == "sending"))


def ledger_holds(stored: Stored, balances: dict[int, int], now: datetime) -> None:
    operation_of = {operation.id: operation for operation in stored.operations}
    lots_of = Counter(lot.operation_id for lot in stored.lots)
    taken_by, taken_from = Counter(), Counter()
    for spend in stored.spends:
        taken_by[spend.operation_id] += spend.amount
        taken_from[spend.lot_id] += spend.amount
    for operation in stored.operations:
        assert lots_of[operation.id] == (1 if operation.amount > 0 else 0), operation._asdict()
        taken = 0 if operation.amount > 0 or operation.kind == "expire" else -operation.amount
        assert taken_by[operation.id] == taken, operation._asdict()
    burnt, held, live = Counter(), Counter(), Counter()
    for lot in stored.lots:
        operation = operation_of[lot.operation_id]
        assert (lot.customer_id, lot.amount) == (operation.customer_id, operation.amount)
        lost = lot.amount - lot.remaining - taken_from[lot.id]  # burnt, if anything
        assert lost >= 0 and (lost == 0 or lot.expires_at <= now), lot._asdict()
        burnt[lot.customer_id] += lost
        held[lot.customer_id] += lot.remaining
        if lot.expires_at > now and lot.available_at <= now:
            live[lot.customer_id] += lot.remaining
    for customer_id, balance in balances.items():
        mine = [op.amount for op in stored.operations if op.customer_id == customer_id]
        expired = [op.amount for op in stored.operations
                   if op.customer_id == customer_id and op.kind == "expire"]
        assert -sum(a for a in mine if a < 0) <= sum(a for a in mine if a > 0), customer_id
        assert sum(mine) == held[customer_id], customer_id
        assert -sum(expired) == burnt[customer_id], customer_id
        assert balance == live[customer_id] >= 0, customer_id


def bonuses_are_given_once(stored: Stored) -> None:
    """Welcome, profile and a friend's referral bonus once per customer (the referrer's once
    per friend), a review bonus once per rated purchase, a trigger's gift as its send row says."""
    once = Counter((op.customer_id, op.reason, op.reference) for op in stored.operations
                   if op.amount > 0 and op.reason in ("welcome", "profile", "referral"))
    assert max(once.values(), default=0) <= 1, once
    rated = {f"purchase:{review.purchase_id}" for review in stored.reviews}
    review_bonuses = Counter(op.reference for op in stored.operations if op.reason == "review")
    assert set(review_bonuses) <= rated and max(review_bonuses.values(), default=0) <= 1
    gifts = Counter((op.customer_id, op.reference, op.amount) for op in stored.operations
                    if op.reason == "gift")
    sent = Counter((send.customer_id, f"trigger:{send.trigger}:{send.episode}", send.points_given)
                   for send in stored.trigger_sends if send.points_given)
    assert gifts == sent, (gifts, sent)


def purchases_are_whole(stored: Stored) -> None:
    count, spent = Counter(), Counter()
    for purchase in stored.purchases:
        refunds = [r for r in stored.refunds if r.purchase_id == purchase.id]
        assert 0 <= purchase.refunded_amount == sum(r.amount for r in refunds) <= purchase.amount
        assert purchase.points_returned == sum(r.points_returned for r in refunds) \
            <= purchase.points_spent, purchase._asdict()
        if purchase.customer_id is None:
            continue  # the customer deleted their data, and their points with it
        moved = Counter()
        for op in stored.operations:
            if op.purchase_id == purchase.id:
                moved[op.reason, op.amount > 0] += op.amount
        assert (moved["purchase", False], moved["purchase", True]) == \
            (-purchase.points_spent, purchase.points_earned), purchase._asdict()
        assert (moved["refund", True], moved["refund", False]) == \
            (purchase.points_returned, -sum(r.points_reversed for r in refunds)), purchase._asdict()
        if purchase.refunded_amount < purchase.amount:
            count[purchase.customer_id] += 1
        spent[purchase.customer_id] += purchase.amount - purchase.refunded_amount
    for customer in stored.customers:
        assert (customer.purchase_count, customer.total_spent) == \
            (count[customer.id], spent[customer.id]), customer._asdict()


def people_are_whole(stored: Stored) -> None:
    linked = {identity.customer_id for identity in stored.identities}
    for identity in stored.identities:
        assert 0 < len(identity.external_id) <= 64 and identity.channel, identity._asdict()
        assert identity.customer_id is None or identity.consent_at is not None, identity._asdict()
    for customer in stored.customers:
        number = customer.card_number
        assert len(number) == CARD_DIGITS and luhn_check_digit(number[:-1]) == number[-1]
        assert customer.id in linked or customer.source == ENROLLED_AT_TILL, customer._asdict()
        if customer.registered_at is not None:
            assert customer.name and customer.phone and customer.consent_at, customer._asdict()
    assert not stored.half_sent, stored.half_sent


def test_random_update_streams_keep_the_records_whole(migrated_template: Path, tmp_path: Path):
    run_state_machine_as_test(lambda: Shop(migrated_template, tmp_path), settings=RUNS)
