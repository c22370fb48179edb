"""``loyalty-bot demo``: fill an empty database with a believable coffee shop, so the owner's
console (/stats, /segments, /broadcast, /customer, /export) has something to show on the
first run.

A year of one shop: customers join through the web chat (Russian first names, +7 9xx
phones, a birthday for about 70 %, an acquisition source), then buy: regulars every few
days, occasional buyers every month or two, one-time visitors, and a quarter who lapsed
(stopped 2–6 months ago). Visits follow the week (more on Friday and the weekend) and the
year (a December peak, a summer dip); checks spread around a coffee shop's average.

The points follow the program's rules exactly: the welcome bonus, cashback by the tier at
the moment of each purchase, points sometimes spent within the cap (expiring lots first), a
few refunds (whole or partial) that reverse points, the nightly expiry pass. Two ways to
write the same rows: ``_Book`` replays the rules of bot/loyalty/checkout.py and bot/loyalty/ledger.py in
memory (with their own ``spend_cap``, ``cashback``, ``current_tier``) and writes everything
with a few bulk inserts — 3,000 customers and ~35,000 purchases in seconds; or, event by
event, the real services themselves (``Checkout.purchase`` / ``refund`` and
``Ledger.expire_due`` with a ``FrozenClock`` at each moment), about 10 ms a purchase.
tests/test_demo.py runs both on the same plan and requires identical rows. Nothing is
sent: no outbox rows, no trigger history.

The demo stays a demo when the owner then runs the shop: its customers are web chat
visitors nobody will ever be, so their identities are written unreachable (as if each had
closed the chat for good), and the trigger passes and broadcasts, which only pick customers
reachable in some channel, leave them alone on every later day too. (Marking the passes done
up to the demo's day would not do: tomorrow more of them lapse or have a birthday.) They
still count in /stats and /segments, the channel included. The closing lines print the
command that opens this shop.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import shlex
import string
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TextIO, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, make_url, select, text

from bot.config import CONFIG_ENV, ProgramSettings, Settings
from bot.core.clock import Clock, FrozenClock, SystemClock
from bot.loyalty.cards import CARD_DIGITS, luhn_check_digit
from bot.loyalty.checkout import Checkout, cashback, request_fingerprint, spend_cap
from bot.loyalty.ledger import Ledger
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.plain_english import noun
from bot.loyalty.tiers import current_tier
from bot.storage import database, day_book
from bot.storage.models import Base, Customer, Identity, PointLot, Purchase
from bot.storage.session import COUNTED
from bot.storage.uow import UnitOfWork

_T = TypeVar("_T")
Progress = Callable[[int, int], None]  # (events written, events in all)

DAYS = 360  # the program runs a little under a year: every purchase is within the last one
BATCH = 400  # events per transaction
AVERAGE_CHECK = 420  # currency units: coffee and a pastry
CHANNEL = "web"
DATABASE_ENV = "LOYALTY_DATABASE__URL"

FEMALE = ("Анна", "Мария", "Елена", "Ольга", "Наталья", "Екатерина", "Татьяна", "Ирина",
          "Светлана", "Юлия", "Дарья", "Анастасия", "Ксения", "Полина", "Алина", "Виктория",
          "Софья", "Марина", "Вероника", "Алёна", "Кристина", "Валерия", "Евгения", "Любовь")
MALE = ("Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья",
        "Иван", "Михаил", "Никита", "Егор", "Роман", "Павел", "Кирилл", "Владимир", "Денис",
        "Евгений", "Антон", "Олег", "Николай", "Игорь", "Тимур", "Григорий")
SURNAMES = ("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов",
            "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев",
            "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев")
SOURCES = (("qr-at-till", 34), ("instagram", 22), ("friend", 14), (None, 12), ("2gis", 8),
           ("vk", 6), ("flyer", 4))
OPERATORS = (900, 901, 902, 903, 904, 905, 906, 908, 909, 910, 912, 915, 916, 917, 919, 920,
             921, 925, 926, 927, 929, 930, 937, 950, 951, 952, 953, 958, 960, 961, 962, 963,
             964, 965, 977, 978, 980, 981, 985, 987, 988, 991, 993, 995, 996, 999)
# visits by local hour of the day: a morning rush, lunch, an after-work bump
HOURS = {8: 9, 9: 12, 10: 8, 11: 6, 12: 8, 13: 10, 14: 7, 15: 5, 16: 6, 17: 8, 18: 8,
         19: 6, 20: 4}
WEEKDAY = (0.85, 0.85, 0.9, 0.95, 1.15, 1.45, 1.35)  # Monday … Sunday
MONTH = (0.95, 1.0, 1.05, 1.0, 1.0, 0.85, 0.75, 0.8, 1.0, 1.05, 1.1, 1.4)  # January … December


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of customer: their share, days between visits, how likely they spend points."""

    name: str
    share: float
    gap_days: tuple[float, float]  # the mean gap between visits is drawn from this range
    spends: float


KINDS = (
    Kind("regular", 0.16, (3.0, 9.0), 0.45),
    Kind("occasional", 0.42, (20.0, 55.0), 0.25),
    Kind("one-time", 0.17, (0.0, 0.0), 0.0),
    Kind("lapsed", 0.25, (6.0, 30.0), 0.3),
)


@dataclass(frozen=True, slots=True)
class Report:
    customers: int
    purchases: int
    refunds: int
    revenue: int  # minor units, net of refunds
    outstanding: int  # points in live lots
    seconds: float


@dataclass(order=True)
class _Event:
    at: datetime
    order: int
    kind: str = field(compare=False)  # join | buy | refund | expire
    person: int = field(compare=False)  # the index of the planned customer
    amount: int = field(compare=False, default=0)
    receipt: str = field(compare=False, default="")


@dataclass
class _Person:
    name: str
    phone: str
    card: str
    visitor: str
    source: str | None
    locale: str
    birthday: tuple[int, int, int | None] | None
    kind: Kind
    spend_chance: float
    joined: datetime
    last_seen: datetime
    customer_id: int | None = None


# --- the plan: who joins when and buys what, all drawn from one seeded generator ----------

def _phones(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(f"+7{rng.choice(OPERATORS)}{rng.randrange(10 ** 7):07d}")
    phones = sorted(seen)
    rng.shuffle(phones)
    return phones


def _cards(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        body = str(rng.randrange(10 ** (CARD_DIGITS - 2), 10 ** (CARD_DIGITS - 1)))
        seen.add(body + luhn_check_digit(body))
    cards = sorted(seen)
    rng.shuffle(cards)
    return cards


def _name(rng: random.Random) -> str:
    female = rng.random() < 0.58
    first = rng.choice(FEMALE if female else MALE)
    if rng.random() < 0.6:
        return first
    surname = rng.choice(SURNAMES)
    return f"{first} {surname + 'а' if female else surname}"


def _birthday(rng: random.Random, today: date) -> tuple[int, int, int | None] | None:
    if rng.random() >= 0.7:
        return None
    born = date(2000, 1, 1) + timedelta(days=rng.randrange(366))  # a leap year: 29.02 too
    year = today.year - rng.choice(range(18, 61)) if rng.random() < 0.8 else None
    if year is not None and (born.month, born.day) == (2, 29) and not _leap(year):
        year += 1 if _leap(year + 1) else -1
    return born.day, born.month, year


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _weighted(rng: random.Random, pairs: Iterable[tuple[_T, int]]) -> _T:
    listed = list(pairs)
    return rng.choices([value for value, _ in listed], [weight for _, weight in listed])[0]


def _moment(rng: random.Random, day: date, tz: tzinfo) -> datetime:
    hour = _weighted(rng, HOURS.items())
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60),
                     tzinfo=tz)
    return local.astimezone(UTC)


def _join_day(rng: random.Random, opened: date) -> date:
    """Sign-ups: a launch wave in the first weeks, then a steady flow with the seasons."""
    while True:
        offset = (rng.randrange(45) if rng.random() < 0.18 else rng.randrange(DAYS))
        day = opened + timedelta(days=offset)
        if rng.random() < MONTH[day.month - 1] / 1.4:
            return day


def _check(rng: random.Random, day: date, regular: bool) -> int:
    """A check in minor units: log-normal around the average, rounded to whole units."""
    mean = AVERAGE_CHECK * (1.12 if day.month == 12 else 1.0) * (0.9 if regular else 1.0)
    units = max(90, round(rng.lognormvariate(math.log(mean) - 0.5 * 0.45 ** 2, 0.45)))
    if units > 300:
        units = round(units, -1)
    return units * MINOR_PER_UNIT


def plan(customers: int, seed: int, now: datetime, tz: tzinfo) -> tuple[list[_Person], list[_Event]]:
    rng = random.Random(seed)
    today = now.astimezone(tz).date()
    opened = today - timedelta(days=DAYS)
    phones, cards = _phones(rng, customers), _cards(rng, customers)
    people: list[_Person] = []
    events: list[_Event] = []
    order = 0
    for i in range(customers):
        kind = rng.choices(KINDS, [k.share for k in KINDS])[0]
        day = _join_day(rng, opened)
        joined = _moment(rng, day, tz)
        if joined >= now:
            day, joined = day - timedelta(days=1), joined - timedelta(days=1)
        person = _Person(
            name=_name(rng), phone=phones[i], card=cards[i],
            visitor="".join(rng.choices(string.ascii_letters + string.digits + "-_", k=24)),
            source=_weighted(rng, SOURCES), locale="en" if rng.random() < 0.03 else "ru",
            birthday=_birthday(rng, today), kind=kind,
            spend_chance=min(0.9, kind.spends * rng.uniform(0.5, 1.5)), joined=joined,
            last_seen=joined)
        people.append(person)
        events.append(_Event(joined, order := order + 1, "join", i))
        for when in _visits(rng, kind, day, today, tz):
            if when <= joined or when >= now:
                continue
            regular = kind.name == "regular"
            events.append(_Event(when, order := order + 1, "buy", i, _check(rng, when.date(), regular),
                                 f"demo-{order:07d}"))
            person.last_seen = max(person.last_seen, when)
            if rng.random() < 0.006:  # a few receipts come back: whole or a part
                back = when + timedelta(hours=rng.uniform(0.2, 72))
                if back < now:
                    receipt = events[-1].receipt
                    part = 0 if rng.random() < 0.6 else events[-1].amount // 2
                    events.append(_Event(back, order := order + 1, "refund", i, part, receipt))
    for n in range(DAYS + 1):  # the nightly expiry pass
        night = datetime.combine(opened + timedelta(days=n + 1), datetime.min.time(), tz)
        if night.astimezone(UTC) < now:
            events.append(_Event(night.astimezone(UTC) + timedelta(minutes=5),
                                 order := order + 1, "expire", -1))
    events.append(_Event(now, order + 1, "expire", -1))
    heapq.heapify(events)
    return people, [heapq.heappop(events) for _ in range(len(events))]


def _visits(rng: random.Random, kind: Kind, joined: date, today: date, tz: tzinfo) -> list[datetime]:
    """Visit moments from the day of joining: a day-by-day chance by the week and the season."""
    if kind.name == "one-time":
        first = joined + timedelta(days=0 if rng.random() < 0.7 else rng.randrange(1, 20))
        visits = [first] + ([first + timedelta(days=rng.randrange(10, 120))]
                            if rng.random() < 0.3 else [])
        return [_moment(rng, day, tz) for day in visits if day <= today]
    gap = rng.uniform(*kind.gap_days)
    last = today
    if kind.name == "lapsed":
        last = today - timedelta(days=rng.randrange(60, 183))  # stopped 2 to 6 months ago
        if last <= joined:
            last = joined + timedelta(days=rng.randrange(0, 14))
    moments = [_moment(rng, joined, tz)] if rng.random() < 0.8 else []  # most buy on day one
    day = joined + timedelta(days=1)
    while day <= min(last, today):
        chance = WEEKDAY[day.weekday()] * MONTH[day.month - 1] / gap
        if rng.random() < min(0.9, chance):
            moments.append(_moment(rng, day, tz))
        day += timedelta(days=1)
    return moments


# --- the writing: the real services, in order, each at its moment -----------------------

async def fill(uow_factory: Callable[[], UnitOfWork], settings: Settings, customers: int, seed: int,
               clock: Clock, progress: Progress | None = None, services: bool = False) -> Report:
    """Write the planned shop; the database must be empty. ``services``: event by event
    through ``Checkout`` and ``Ledger`` (about 10 ms a purchase), else the same rules replayed
    in memory by ``_Book`` and written in bulk (the same rows, about 50x faster)."""
    started = time.perf_counter()
    now = clock.now()
    tz = ZoneInfo(settings.shop.timezone)
    program = settings.program
    people, events = plan(customers, seed, now, tz)
    rng = random.Random(seed + 1)
    purchases = refunds = 0
    async with uow_factory() as uow:
        outlet = (await uow.outlets.default()).id
    if services:
        purchases, refunds = await _through_services(uow_factory, people, events, program,
                                                     outlet, rng, progress)
    else:
        book = _Book(program)
        purchases, refunds = replay(book, people, events, outlet, rng)
        async with uow_factory() as uow:
            await book.write(uow)
            await uow.commit()
    async with uow_factory() as uow:
        revenue = await uow.session.scalar(
            select(func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0)))
        outstanding = await uow.session.scalar(
            select(func.coalesce(func.sum(PointLot.remaining), 0))
            .where(PointLot.remaining > 0, PointLot.expires_at > now))
    return Report(customers, purchases, refunds, int(revenue or 0), int(outstanding or 0),
                  time.perf_counter() - started)


async def _through_services(uow_factory: Callable[[], UnitOfWork], people: list[_Person],
                            events: list[_Event], program: ProgramSettings, outlet: int,
                            rng: random.Random, progress: Progress | None) -> tuple[int, int]:
    """The events one by one through the services, each at its moment, in batches."""
    purchases = refunds = 0
    for start in range(0, len(events), BATCH):
        async with uow_factory() as uow:
            for event in events[start:start + BATCH]:
                moment = FrozenClock(event.at)
                if event.kind == "join":
                    await _join(uow, people[event.person], moment, program)
                elif event.kind == "buy":
                    await _buy(uow, people[event.person], event, moment, program, outlet, rng)
                    purchases += 1
                elif event.kind == "refund":
                    await Checkout(uow, moment, program).refund(
                        outlet_id=outlet, receipt_id=event.receipt, amount=event.amount or None)
                    refunds += 1
                else:
                    while await Ledger(uow, moment).expire_due():
                        pass
            await uow.commit()
        if progress is not None:
            progress(min(start + BATCH, len(events)), len(events))
    return purchases, refunds


async def _join(uow: UnitOfWork, person: _Person, clock: FrozenClock, program: ProgramSettings) -> None:
    """What the web chat's sign-up leaves behind: a customer with a typed (unverified) phone,
    a web identity, the welcome bonus."""
    at = clock.now()
    day, month, year = person.birthday or (None, None, None)
    customer = Customer(card_number=person.card, phone=person.phone, phone_verified=False,
                        name=person.name, birth_day=day, birth_month=month, birth_year=year,
                        locale=person.locale, source=person.source, consent_at=at,
                        registered_at=at, purchase_count=0, total_spent=0,
                        notify_promotions=True, notify_reminders=True, notify_digest=True,
                        created_at=at)
    uow.session.add(customer)
    await uow.session.flush()
    person.customer_id = customer.id
    uow.session.add(Identity(channel=CHANNEL, external_id=person.visitor, customer_id=customer.id,
                             locale=person.locale, consent_at=at, source=person.source,
                             reachable=False, created_at=at, last_seen_at=person.last_seen))
    if program.welcome_bonus > 0:
        await Ledger(uow, clock).earn(customer.id, program.welcome_bonus, "welcome",
                                      timedelta(days=program.welcome_bonus_days))


async def _buy(uow: UnitOfWork, person: _Person, event: _Event, clock: FrozenClock, program: ProgramSettings,
               outlet: int, rng: random.Random) -> None:
    assert person.customer_id is not None
    checkout = Checkout(uow, clock, program)
    spend = 0
    if rng.random() < person.spend_chance:
        customer = await uow.customers.lock(person.customer_id)
        assert customer is not None
        cap = await checkout.cap_for(customer, event.amount)
        if cap >= 10:
            spend = cap if rng.random() < 0.7 else rng.randint(cap // 2, cap)
    await checkout.purchase(customer_id=person.customer_id, outlet_id=outlet,
                            receipt_id=event.receipt, amount=event.amount, spend=spend,
                            occurred_at=event.at, source="pos" if rng.random() < 0.7 else "chat")


# --- the fast path: the same rules, kept in memory, written in bulk -----------------------

@dataclass
class _Lot:
    id: int
    customer_id: int
    operation_id: int
    reason: str
    amount: int
    remaining: int
    created_at: datetime
    available_at: datetime
    expires_at: datetime
    cashback_of: int | None = None  # the purchase whose cashback this is


@dataclass
class _Account:
    customer_id: int
    purchase_count: int = 0
    total_spent: int = 0
    lots: list[_Lot] = field(default_factory=list)


class _Book:
    """The ledger and checkout rules of bot/loyalty/ledger.py and bot/loyalty/checkout.py replayed in memory
    for customers nobody else touches, so a year of a shop is written with a few bulk
    inserts instead of ten statements a purchase. ``tests/test_demo.py`` checks that it
    writes exactly what the services write."""

    def __init__(self, program: ProgramSettings) -> None:
        self.program = program
        self.rows: dict[str, list[dict]] = {name: [] for name in (
            "customers", "identities", "point_operations", "point_spends", "purchases", "refunds")}
        self.lots: list[_Lot] = []
        self.accounts: dict[int, _Account] = {}
        self.receipts: dict[str, dict] = {}
        self.spent_lots: dict[int, list[_Lot]] = {}  # purchase id -> the lots its spend took
        self.due: list[tuple[datetime, int, _Lot]] = []  # lots by expiry, for the nightly pass
        self.ids = dict.fromkeys(("customer", "identity", "operation", "lot", "purchase", "refund"), 0)

    def _next(self, name: str) -> int:
        self.ids[name] += 1
        return self.ids[name]

    # the ledger
    def _operation(self, customer_id: int, kind: str, reason: str, amount: int, at: datetime,
                   reference: str | None = None, purchase_id: int | None = None) -> int:
        op = self._next("operation")
        self.rows["point_operations"].append(dict(
            id=op, customer_id=customer_id, kind=kind, reason=reason, amount=amount,
            reference=reference, note=None, purchase_id=purchase_id, actor_identity_id=None,
            created_at=at))
        return op

    def earn(self, customer_id: int, points: int, reason: str, lifetime: timedelta, at: datetime,
             *, reference: str | None = None, purchase_id: int | None = None,
             hold: timedelta = timedelta(0)) -> _Lot:
        op = self._operation(customer_id, "earn", reason, points, at, reference, purchase_id)
        lot = _Lot(self._next("lot"), customer_id, op, reason, points, points, at, at + hold,
                   at + lifetime, purchase_id if reason == "purchase" else None)
        self.lots.append(lot)
        self.accounts[customer_id].lots.append(lot)
        heapq.heappush(self.due, (lot.expires_at, lot.id, lot))
        return lot

    def live(self, customer_id: int, at: datetime, spendable_only: bool) -> list[_Lot]:
        return sorted((lot for lot in self.accounts[customer_id].lots
                       if lot.remaining > 0 and lot.expires_at > at
                       and (not spendable_only or lot.available_at <= at)),
                      key=lambda lot: (lot.expires_at, lot.id))

    def balance(self, customer_id: int, at: datetime) -> int:
        return sum(lot.remaining for lot in self.live(customer_id, at, spendable_only=True))

    def _take(self, op: int, lots: list[_Lot], points: int) -> list[_Lot]:
        left, taken_from = points, []
        for lot in lots:
            taken = min(lot.remaining, left)
            if taken:
                lot.remaining -= taken
                self.rows["point_spends"].append(dict(operation_id=op, lot_id=lot.id, amount=taken))
                taken_from.append(lot)
                left -= taken
            if left == 0:
                break
        return taken_from

    def expire_due(self, at: datetime) -> None:
        """``Ledger.expire_due``: one "expire" operation per customer for the lots due by now."""
        burnt: dict[int, int] = {}
        while self.due and self.due[0][0] <= at:
            _, _, lot = heapq.heappop(self.due)
            if lot.remaining:
                burnt[lot.customer_id] = burnt.get(lot.customer_id, 0) + lot.remaining
                lot.remaining = 0
        for customer_id in sorted(burnt):
            self._operation(customer_id, "expire", "expiry", -burnt[customer_id], at)

    # sign-up, checkout, refund
    def join(self, person: _Person, at: datetime) -> None:
        customer_id, identity_id = self._next("customer"), self._next("identity")
        person.customer_id = customer_id
        self.accounts[customer_id] = _Account(customer_id)
        day, month, year = person.birthday or (None, None, None)
        self.rows["customers"].append(dict(
            id=customer_id, card_number=person.card, phone=person.phone, phone_verified=False,
            name=person.name, birth_day=day, birth_month=month, birth_year=year,
            locale=person.locale, source=person.source, consent_at=at, registered_at=at,
            purchase_count=0, total_spent=0, notify_promotions=True, notify_reminders=True,
            notify_digest=True, created_at=at))
        self.rows["identities"].append(dict(
            id=identity_id, channel=CHANNEL, external_id=person.visitor, customer_id=customer_id,
            locale=person.locale, consent_at=at, source=person.source, reachable=False,
            created_at=at, last_seen_at=person.last_seen))
        program = self.program
        if program.welcome_bonus > 0:
            self.earn(customer_id, program.welcome_bonus, "welcome",
                      timedelta(days=program.welcome_bonus_days), at)

    def cap(self, customer_id: int, amount: int, at: datetime) -> int:
        account = self.accounts[customer_id]
        tier = current_tier(account.purchase_count + 1, self.program, account.total_spent + amount)
        return spend_cap(amount, self.balance(customer_id, at), tier, self.program)

    def purchase(self, customer_id: int, outlet_id: int, receipt: str, amount: int, spend: int,
                 at: datetime, source: str) -> None:
        program, account = self.program, self.accounts[customer_id]
        tier = current_tier(account.purchase_count + 1, program, account.total_spent + amount)
        if spend < 0 or spend > spend_cap(amount, self.balance(customer_id, at), tier, program):
            raise ValueError(f"spend {spend} above the cap")
        purchase_id = self._next("purchase")
        row = dict(id=purchase_id, outlet_id=outlet_id, receipt_id=receipt,
                   customer_id=customer_id, amount=amount, points_spent=spend, points_earned=0,
                   refunded_amount=0, points_returned=0, points_reversed=0, balance_after=0,
                   tier_after=tier.code if tier else None,
                   request_hash=request_fingerprint(customer_id, amount, spend), source=source,
                   actor_identity_id=None, pos_key_id=None, occurred_at=at, created_at=at)
        self.rows["purchases"].append(row)
        self.receipts[receipt] = row
        if spend:
            op = self._operation(customer_id, "spend", "purchase", -spend, at, receipt, purchase_id)
            self.spent_lots[purchase_id] = self._take(
                op, self.live(customer_id, at, spendable_only=True), spend)
        earned = cashback(amount - spend * MINOR_PER_UNIT, tier)
        if earned:
            self.earn(customer_id, earned, "purchase", timedelta(days=program.purchase_points_days),
                      at, reference=receipt, purchase_id=purchase_id,
                      hold=timedelta(days=program.purchase_points_hold_days))
        account.purchase_count += 1
        account.total_spent += amount
        row["points_earned"] = earned
        row["balance_after"] = self.balance(customer_id, at)

    def refund(self, receipt: str, amount: int | None, at: datetime) -> None:
        purchase = self.receipts[receipt]
        customer_id, purchase_id = purchase["customer_id"], purchase["id"]
        refund_key = "rest" if amount is None else None
        refundable = purchase["amount"] - purchase["refunded_amount"]
        amount = refundable if amount is None else amount
        kept = refundable - amount
        keep_earned = purchase["points_earned"] * kept // purchase["amount"]
        keep_spent = purchase["points_spent"] * kept // purchase["amount"]
        reverse = purchase["points_earned"] - purchase["points_reversed"] - keep_earned
        give_back = purchase["points_spent"] - purchase["points_returned"] - keep_spent
        reversed_now = 0
        if give_back > 0:
            spent = self.spent_lots.get(purchase_id)
            latest = max((lot.expires_at for lot in spent), default=None) if spent else None
            until = max(latest or at, at + timedelta(days=self.program.refund_points_min_days))
            self.earn(customer_id, give_back, "refund", until - at, at, reference=receipt,
                      purchase_id=purchase_id)
        if reverse > 0:
            lots = sorted(self.live(customer_id, at, spendable_only=False),
                          key=lambda lot: lot.cashback_of != purchase_id)
            taken = min(reverse, sum(lot.remaining for lot in lots))
            if taken > 0:
                op = self._operation(customer_id, "spend", "refund", -taken, at, receipt,
                                     purchase_id)
                self._take(op, lots, taken)
                reversed_now = taken
        account = self.accounts[customer_id]
        account.total_spent = max(0, account.total_spent - amount)
        if kept == 0:
            account.purchase_count = max(0, account.purchase_count - 1)
        self.rows["refunds"].append(dict(
            id=self._next("refund"), purchase_id=purchase_id, refund_key=refund_key,
            amount=amount, points_returned=give_back, points_reversed=reversed_now,
            actor_identity_id=None, pos_key_id=None, created_at=at))
        purchase["refunded_amount"] += amount
        purchase["points_returned"] += give_back
        purchase["points_reversed"] += reverse

    async def write(self, uow: UnitOfWork, chunk: int = 2000) -> None:
        """Every row, parents first, in the caller's transaction."""
        for row in self.rows["customers"]:
            account = self.accounts[row["id"]]
            row["purchase_count"], row["total_spent"] = account.purchase_count, account.total_spent
        lots = [dict(id=lot.id, customer_id=lot.customer_id, operation_id=lot.operation_id,
                     reason=lot.reason, amount=lot.amount, remaining=lot.remaining,
                     created_at=lot.created_at, available_at=lot.available_at,
                     expires_at=lot.expires_at) for lot in self.lots]
        tables = Base.metadata.tables
        for name, rows in (("customers", self.rows["customers"]),
                           ("identities", self.rows["identities"]),
                           ("purchases", self.rows["purchases"]),
                           ("point_operations", self.rows["point_operations"]),
                           ("point_lots", lots), ("point_spends", self.rows["point_spends"]),
                           ("refunds", self.rows["refunds"])):
            for start in range(0, len(rows), chunk):  # the book is built after filling
                await uow.session.execute(insert(tables[name]).execution_options(day_book=COUNTED),
                                          rows[start:start + chunk])
        if uow.session.bind is not None and uow.session.bind.dialect.name == "postgresql":
            for name in ("customers", "identities", "purchases", "point_operations",
                         "point_lots", "refunds"):  # explicit ids: move the sequences past them
                await uow.session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"))


def replay(book: _Book, people: list[_Person], events: list[_Event], outlet: int,
           rng: random.Random) -> tuple[int, int]:
    """The planned events through the in-memory book; returns (purchases, refunds)."""
    purchases = refunds = 0
    for event in events:
        if event.kind == "join":
            book.join(people[event.person], event.at)
        elif event.kind == "buy":
            customer_id = people[event.person].customer_id
            assert customer_id is not None
            spend = 0
            if rng.random() < people[event.person].spend_chance:
                cap = book.cap(customer_id, event.amount, event.at)
                if cap >= 10:
                    spend = cap if rng.random() < 0.7 else rng.randint(cap // 2, cap)
            book.purchase(customer_id, outlet, event.receipt, event.amount, spend, event.at,
                          "pos" if rng.random() < 0.7 else "chat")
            purchases += 1
        elif event.kind == "refund":
            book.refund(event.receipt, event.amount or None, event.at)
            refunds += 1
        else:
            book.expire_due(event.at)
    return purchases, refunds


# --- the command ----------------------------------------------------------------------------

def _money(minor: int) -> str:
    return f"{minor // MINOR_PER_UNIT:,}".replace(",", " ")


def open_command(config: str | None, env: Mapping[str, str], program: str = "loyalty-bot") -> str:
    """``run`` with what chose the demo's database: the same --config, and the variables
    of the environment that name the config file or the database."""
    chosen = [f"{name}={shlex.quote(env[name])}" for name in (CONFIG_ENV, DATABASE_ENV)
              if env.get(name) and not (name == CONFIG_ENV and config)]
    options = ["--config", shlex.quote(config)] if config else []
    return " ".join([*chosen, program, *options, "run"])


def where(url: str) -> str:
    """The database a person can find: a SQLite file's full path, else the URL (no password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return str(Path(parsed.database).resolve())
    return parsed.render_as_string(hide_password=True)


async def run_demo(settings: Settings, customers: int = 3000, seed: int = 1,
                   clock: Clock | None = None, out: TextIO | None = None,
                   opener: str | None = None) -> int:
    """``loyalty-bot demo``: 0 when the shop was written, 1 when the database already has
    customers (nothing is written then). ``opener``: the command that opens the shop
    (default: ``run`` with this environment's config and database variables)."""
    clock, out = clock or SystemClock(), out or sys.stdout
    opener = opener or open_command(None, os.environ)
    url = settings.database.url
    if url.startswith("sqlite"):
        await database.upgrade(url)  # as `run` does for a SQLite file
    engine = database.create_engine(url)
    sessions = database.session_factory(engine)
    try:
        async with UnitOfWork(sessions) as uow:
            existing = await uow.session.scalar(select(func.count()).select_from(Customer))
        if existing:
            print(f"loyalty-bot demo: the database already has {existing:,} "
                  f"{noun(existing, 'customer')}; the demo shop only goes into an empty one "
                  "(use a fresh database file, e.g. "
                  "LOYALTY_DATABASE__URL=sqlite+aiosqlite:///demo.db).", file=out)
            return 1
        print(f"writing a demo coffee shop: {customers:,} {noun(customers, 'customer')}, a year "
              f"of purchases (seed {seed}) ...", file=out, flush=True)
        report = await fill(lambda: UnitOfWork(sessions), settings, customers, seed, clock)
        # the shop was written in bulk, past the day book: count it all once
        async with UnitOfWork(sessions) as uow:
            await day_book.rebuild(uow.session, ZoneInfo(settings.shop.timezone), clock.now())
            await uow.commit()
    finally:
        await engine.dispose()
    currency = settings.shop.currency
    print(f"done in {report.seconds:.0f} s: {report.customers:,} "
          f"{noun(report.customers, 'customer')}, {report.purchases:,} "
          f"{noun(report.purchases, 'purchase')} ({report.refunds} refunded), revenue "
          f"{_money(report.revenue)} {currency}, points outstanding {report.outstanding:,}",
          file=out)
    print(f"the demo shop is in {where(url)}; its customers can't be reached in any messenger, "
          "so triggers and broadcasts leave them alone", file=out)
    print(f"open it: {opener}", file=out)
    print(f"then open the admin link it prints (or write as an admin from the config), e.g. in "
          f"the web chat at {settings.web.base_url()}/, and send /start: the console "
          "(/stats, /segments, /customer ...)", file=out)
    return 0
