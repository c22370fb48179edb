"""``loyalty-bot demo``: fill an empty database with a believable coffee shop, so the owner's
console (/stats, /segments, /broadcast, /customer, /export) has something to show on the
first run.

A year of one shop: customers join through the web chat (Russian first names, +7 9xx
phones, a birthday for about 70 %, an acquisition source), then buy: regulars every few
days, occasional buyers every month or two, one-time visitors, and a quarter who lapsed
(stopped 2–6 months ago). Visits follow the week (more on Friday and the weekend) and the
year (a December peak, a summer dip); checks spread around a coffee shop's average.

The shop is written the way the shop writes itself, so the points rules exist once: every
planned event, in time order and at its own moment (a ``FrozenClock`` per event), goes
through the services the running shop uses — the sign-up's ``customers.register`` and welcome
bonus (once per phone number), ``Checkout.purchase`` (cashback by the tier at that moment,
points sometimes spent within the cap the checkout gives), ``Checkout.refund`` (whole or
partial), and the nightly expiry pass ``Ledger.expire_due``. Many events share one unit of
work; the day book is started empty first, so those units of work keep it as they do in
the shop (``loyalty-bot stats check`` agrees). About 10 ms a purchase (the ORM's
statements, a dozen a purchase): the default 500 customers (~6,000 purchases) take a minute
or two. Nothing is sent: no outbox rows, no
trigger history.

The demo stays a demo when the owner then runs the shop: its customers are web chat
visitors nobody will ever be, so their identities are written unreachable (as if each had
closed the chat for good), and the trigger passes and broadcasts, which only pick customers
reachable in some channel, leave them alone on every later day too. (Marking the passes done
up to the demo's day would not do: tomorrow more of them lapse or have a birthday.) They
still count in /stats and /segments, the channel included. The closing lines print the
command that opens this shop.
"""

from __future__ import annotations

import calendar
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
from typing import TextIO, TypeVar
from zoneinfo import ZoneInfo

from bot.channels.registry import built_in
from bot.config import CONFIG_ENV, ProgramSettings, Settings
from bot.core.clock import Clock, FrozenClock, SystemClock
from bot.loyalty.cards import CARD_DIGITS, luhn_check_digit
from bot.loyalty.checkout import Checkout
from bot.loyalty.ledger import Ledger
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.plain_english import noun
from bot.loyalty.welcome import give_welcome_bonus
from bot.storage import database
from bot.storage.models import Customer, Identity
from bot.storage.uow import UnitOfWork

_T = TypeVar("_T")

DAYS = 360  # the program runs a little under a year: every purchase is within the last one
BATCH = 400  # events per transaction
AVERAGE_CHECK = 420  # currency units: coffee and a pastry
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
    if year is not None and (born.month, born.day) == (2, 29) and not calendar.isleap(year):
        year += 1 if calendar.isleap(year + 1) else -1
    return born.day, born.month, year



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

async def fill(uow_factory: Callable[[], UnitOfWork], settings: Settings, customers: int,
               seed: int, clock: Clock, secret: bytes,
               progress: Callable[[int, int], None] | None = None) -> Report:
    """Write the planned shop into an empty database, event by event through the services
    the shop itself runs (sign-up and welcome bonus, ``Checkout``, the nightly expiry), each
    at its moment, many events to a unit of work. The day book is started first, so the
    units of work keep it as they do in the shop. ``secret``: the installation's, which
    keys the welcomed phone numbers."""
    started = time.perf_counter()
    now = clock.now()
    tz = ZoneInfo(settings.shop.timezone)
    people, events = plan(customers, seed, now, tz)
    shop = _Shop(settings.program, tz, secret, people, random.Random(seed + 1))
    async with uow_factory() as uow:
        shop.outlet = (await uow.outlets.default()).id
        await uow.book.rebuild(tz, now)  # empty: every write below is kept in it
        await uow.commit()
    for start in range(0, len(events), BATCH):
        async with uow_factory() as uow:
            for event in events[start:start + BATCH]:
                await shop.happen(uow, event)
            await uow.commit()
        if progress is not None:
            progress(min(start + BATCH, len(events)), len(events))
    async with uow_factory() as uow:
        revenue = await uow.purchases.net_revenue()
        outstanding = await uow.lots.outstanding(now)
    return Report(customers, shop.purchases, shop.refunds, int(revenue or 0),
                  int(outstanding or 0), time.perf_counter() - started)


@dataclass
class _Shop:
    """What the planned events do, through the services; counts what it wrote."""

    program: ProgramSettings
    tz: tzinfo
    secret: bytes
    people: list[_Person]
    rng: random.Random
    outlet: int = 0
    purchases: int = 0
    refunds: int = 0

    async def happen(self, uow: UnitOfWork, event: _Event) -> None:
        moment = FrozenClock(event.at)
        if event.kind == "join":
            await self.join(uow, self.people[event.person], moment)
        elif event.kind == "buy":
            await self.buy(uow, self.people[event.person], event, moment)
        elif event.kind == "refund":
            await Checkout(uow, moment, self.program, self.tz).refund(
                outlet_id=self.outlet, receipt_id=event.receipt, amount=event.amount or None)
            self.refunds += 1
        else:
            while await Ledger(uow, moment).expire_due():  # as the nightly job: until none due
                pass

    async def join(self, uow: UnitOfWork, person: _Person, clock: FrozenClock) -> None:
        """What the web chat's sign-up leaves behind: a customer with a typed (unverified)
        phone, a web identity nobody will ever be, the welcome bonus."""
        at = clock.now()
        day, month, year = person.birthday or (None, None, None)
        customer = await uow.customers.add(Customer(
            phone=person.phone, phone_verified=False, name=person.name, birth_day=day,
            birth_month=month, birth_year=year, locale=person.locale, source=person.source,
            consent_at=at, created_at=at), lambda: person.card)
        person.customer_id = customer.id
        uow.identities.add(Identity(channel=built_in().name, external_id=person.visitor,
                                 customer_id=customer.id, locale=person.locale, consent_at=at,
                                 source=person.source, reachable=False, created_at=at,
                                 last_seen_at=person.last_seen))
        await uow.customers.register(customer.id, at)
        await give_welcome_bonus(Ledger(uow, clock), self.secret, customer.id, self.program)

    async def buy(self, uow: UnitOfWork, person: _Person, event: _Event,
                  clock: FrozenClock) -> None:
        """A purchase at the till; some customers spend points, up to what the checkout allows."""
        assert person.customer_id is not None
        checkout = Checkout(uow, clock, self.program, self.tz)
        spend = 0
        if self.rng.random() < person.spend_chance:
            customer = await uow.customers.lock(person.customer_id)
            assert customer is not None
            cap = await checkout.cap_for(customer, event.amount)
            if cap >= 10:
                spend = cap if self.rng.random() < 0.7 else self.rng.randint(cap // 2, cap)
        await checkout.purchase(customer_id=person.customer_id, outlet_id=self.outlet,
                                receipt_id=event.receipt, amount=event.amount, spend=spend,
                                occurred_at=event.at,
                                source="pos" if self.rng.random() < 0.7 else "chat")
        self.purchases += 1


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


def _progress(out: TextIO | None) -> Callable[[int, int], None]:
    """Every tenth of the events written, a dot (a few dozen seconds pass)."""
    shown = [0]

    def show(done: int, total: int) -> None:
        tenths = done * 10 // total
        if tenths > shown[0]:
            print("." * (tenths - shown[0]), end="\n" if done == total else "", file=out,
                  flush=True)
            shown[0] = tenths

    return show


async def run_demo(settings: Settings, customers: int = 500, seed: int = 1,
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
            existing = await uow.customers.count()
        if existing:
            print(f"loyalty-bot demo: the database already has {existing:,} "
                  f"{noun(existing, 'customer')}; the demo shop only goes into an empty one "
                  "(use a fresh database file, e.g. "
                  "LOYALTY_DATABASE__URL=sqlite+aiosqlite:///demo.db).", file=out)
            return 1
        print(f"writing a demo coffee shop: {customers:,} {noun(customers, 'customer')}, a year "
              f"of purchases (seed {seed}) ...", file=out, flush=True)
        from bot.app import installation_secret  # as `run` gets it

        secret = await installation_secret(settings, UnitOfWork(sessions))
        report = await fill(lambda: UnitOfWork(sessions), settings, customers, seed, clock,
                            secret, _progress(out))
    finally:
        await engine.dispose()
    currency = settings.shop.currency
    print(f"done in {report.seconds:.0f} s: {report.customers:,} "
          f"{noun(report.customers, 'customer')}, {report.purchases:,} "
          f"{noun(report.purchases, 'purchase')} ({report.refunds} refunded), revenue "
          f"{_money(report.revenue)} {currency}, points outstanding {report.outstanding:,}",
          file=out)
    print(f"the demo shop is in {database.where(url)}; its customers can't be reached in any messenger, "
          "so triggers and broadcasts leave them alone", file=out)
    print(f"open it: {opener}", file=out)
    print(f"then open the admin link it prints (or write as an admin from the config), e.g. in "
          f"the web chat at {settings.web.base_url()}/, and send /start: the console "
          "(/stats, /segments, /customer ...)", file=out)
    return 0
