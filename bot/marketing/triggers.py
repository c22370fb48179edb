"""Automatic triggers: the daily pass that brings customers back (win-back 30/60/90), greets
them before a birthday and on holidays, warns before points burn, sends the balance digest,
nudges a customer one purchase short of the next tier and asks for a rating of a purchase.

Each trigger selects its eligible customers as of a moment with set-based queries, then
every candidate gets one ``trigger_sends`` row per episode (a win-back: the date of the last
purchase; a birthday: its year; an expiry warning: the first lot that burns; a digest: its
date; a holiday: year and date; a tier nudge: the tier and the purchase count; a review
request: the purchase), so a trigger fires at most once per customer per episode however
often the pass runs. A keyed hash puts a fixed share of them in the holdout (recorded,
nothing sent, no points); the others get their gift through the ledger and a "marketing"
message through the outbox in the same transaction as their ``trigger_sends`` row (batches
of customers), outside quiet hours and within the daily cap of marketing messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from bot.config import ProgramSettings, Settings, Tier, Trigger, TriggersSettings
from bot.core.clock import FrozenClock
from bot.core.conversation import Core
from bot.core.i18n import N_, Translator
from bot.core.keys import derive, keyed_hash
from bot.core.replies import Button, Keyboard, Reply, Template, Text, keyboard
from bot.delivery.notify import Notification
from bot.handlers.notices import RATINGS, review_payload
from bot.loyalty.ledger import Grant, Ledger
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.program_settings import effective_settings, effective_triggers
from bot.loyalty.tiers import current_tier, next_tier, tier_label
from bot.marketing.quiet_hours import quiet_until
from bot.storage.models import (
    Customer,
    Identity,
    OutboxMessage,
    PointLot,
    Purchase,
    Review,
    TriggerSend,
)
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

WIN_BACKS = ("win_back_30", "win_back_60", "win_back_90")
ORDER = ("birthday", "holidays", "expiry_warning", "win_back_90", "win_back_60", "win_back_30",
         "review_request", "tier_nudge", "balance_digest")  # by priority, under the daily cap
LAST_CATCH_UP = 30  # days the last win-back stays due when no later stage follows
REVIEW_WINDOW = timedelta(days=2)  # older purchases are not asked about
IN_CHUNK = 5000  # ids in one IN (...) list: under every database's parameter limit
SEND_BATCH = 2000  # candidates whose gifts, messages and rows are written together
ID_RANGE = 50_000  # customer ids selected at a time
# outbox states of a message that reaches its person (a web visitor's when they come back)
RECEIVING = ("pending", "sending", "sent", "waiting")
DEFAULT_HOLIDAY_NAMES = (N_("New Year"), N_("International Women's Day"))  # for the catalogs


@dataclass(frozen=True, slots=True)
class Planned:
    """What the pass does (or, in a preview, would do) for one customer."""

    trigger: str
    customer_id: int
    card_number: str
    episode: str
    held_out: bool
    points: int  # gift points given (0 when held out or when the trigger gives none)
    action: str  # "message", "gift", "held out"


class Person(NamedTuple):
    """What a trigger needs to know of a customer: a few columns, not the ORM object (a
    digest day picks nearly everyone, and a pass holds them all)."""

    id: int
    card_number: str
    name: str | None
    purchase_count: int
    total_spent: int
    birth_month: int | None
    birth_day: int | None


PERSON = (Customer.id, Customer.card_number, Customer.name, Customer.purchase_count,
          Customer.total_spent, Customer.birth_month, Customer.birth_day)


async def _people(uow: UnitOfWork, stmt: Select[*tuple[Any, ...]]) -> list[Person]:
    return [Person(*row) for row in (await uow.session.execute(stmt)).all()]


@dataclass(frozen=True, slots=True)
class _Candidate:
    trigger: str
    customer: Person
    episode: str
    points: int = 0  # an expiry warning: how many burn
    burns_at: datetime | None = None
    gift: int | None = None  # instead of the trigger's gift_points (a holiday's own)
    title: str = ""  # a holiday's name
    tier: Tier | None = None  # a tier nudge: the tier one purchase away
    purchase: Purchase | None = None  # a review request: the purchase to rate


class _Day:
    """Shop-local days as UTC instants."""

    def __init__(self, at: datetime, zone: tzinfo) -> None:
        self.zone = zone
        self.today = at.astimezone(zone).date()

    def start(self, offset: int) -> datetime:
        """The start of the local day ``today + offset`` in UTC."""
        return datetime.combine(self.today + timedelta(days=offset), time(0), self.zone).astimezone(UTC)


def held_out(secret: bytes, percent: int, customer_id: int, trigger: str, episode: str) -> bool:
    digest = keyed_hash(derive(secret, "trigger-holdout"), f"{customer_id}:{trigger}:{episode}")
    return int(digest[:8], 16) % 100 < percent


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one round of selection looks at: the moment, its local day, the channels that
    can deliver, and a range of customer ids (a pass goes through the customers in ranges,
    so its memory does not grow with their number)."""

    at: datetime
    day: _Day
    channels: Sequence[str]
    first_id: int
    last_id: int


def _eligible(scope: _Scope,
              topic: InstrumentedAttribute[bool] = Customer.notify_reminders) -> ColumnElement[bool]:
    """In the scope's range, registered, consented, not opted out of the topic (reminders
    unless told), reachable on some channel."""
    reachable = exists().where(Identity.customer_id == Customer.id, Identity.reachable.is_(True),
                               Identity.channel.in_(list(scope.channels)))
    return and_(Customer.id.between(scope.first_id, scope.last_id),
                Customer.registered_at.is_not(None), Customer.registered_at <= scope.at,
                Customer.consent_at.is_not(None), topic.is_(True), reachable)


def _not_sent(trigger: str, episode: str | ColumnElement[str]) -> ColumnElement[bool]:
    return ~exists().where(TriggerSend.customer_id == Customer.id, TriggerSend.trigger == trigger,
                           TriggerSend.episode == episode)


def _window(trigger: str, settings: TriggersSettings) -> tuple[int, int]:
    """A win-back stage is due from ``days`` days without a purchase until the next stage."""
    config: Trigger = getattr(settings, trigger)
    later = [getattr(settings, t).days for t in WIN_BACKS[WIN_BACKS.index(trigger) + 1:]
             if getattr(settings, t).enabled and getattr(settings, t).days > config.days]
    return config.days, min(later) if later else config.days + LAST_CATCH_UP


async def _last_purchases(uow: UnitOfWork, scope: _Scope,
                          settings: TriggersSettings) -> list[tuple[int, datetime]]:
    """(customer id, last purchase) of the eligible customers whose last purchase falls in
    some enabled win-back stage's window: one pass over the purchases for all the stages."""
    windows = [_window(t, settings) for t in WIN_BACKS if getattr(settings, t).enabled]
    if not windows:
        return []
    day = scope.day
    last = (select(Purchase.customer_id.label("customer_id"),
                   func.max(Purchase.occurred_at).label("last_at"))
            .where(Purchase.customer_id.between(scope.first_id, scope.last_id),
                   Purchase.occurred_at <= scope.at)
            .group_by(Purchase.customer_id).subquery())
    # days since the last purchase in [days, until) ⇔ its local date in (today-until, today-days]
    stmt = (select(Customer.id, last.c.last_at).join(last, last.c.customer_id == Customer.id)
            .where(_eligible(scope),
                   last.c.last_at >= day.start(1 - max(until for _, until in windows)),
                   last.c.last_at < day.start(1 - min(days for days, _ in windows))))
    return [(customer_id, _as_utc(last_at))
            for customer_id, last_at in (await uow.session.execute(stmt)).all()]


async def _sent(uow: UnitOfWork, trigger: str, customer_ids: Sequence[int]) -> set[tuple[int, str]]:
    """(customer id, episode) of the trigger's earlier sends to these customers."""
    found: set[tuple[int, str]] = set()
    for start in range(0, len(customer_ids), IN_CHUNK):
        found.update((await uow.session.execute(
            select(TriggerSend.customer_id, TriggerSend.episode)
            .where(TriggerSend.trigger == trigger,
                   TriggerSend.customer_id.in_(customer_ids[start:start + IN_CHUNK])))).all())
    return found


async def _customers(uow: UnitOfWork, customer_ids: Sequence[int]) -> list[Person]:
    """These customers, by id."""
    ordered = sorted(customer_ids)
    found: list[Person] = []
    for start in range(0, len(ordered), IN_CHUNK):
        found += await _people(uow, select(*PERSON).where(
            Customer.id.in_(ordered[start:start + IN_CHUNK])).order_by(Customer.id))
    return found


async def _win_back(uow: UnitOfWork, trigger: str, day: _Day, settings: TriggersSettings,
                    lasts: Sequence[tuple[int, datetime]]) -> list[_Candidate]:
    """Customers whose last purchase was ``days`` or more days ago, until the next stage;
    only the few not yet sent this episode are loaded."""
    days, until = _window(trigger, settings)
    after, before = day.start(1 - until), day.start(1 - days)
    rows = [(customer_id, last_at) for customer_id, last_at in lasts if after <= last_at < before]
    sent = await _sent(uow, trigger, [customer_id for customer_id, _ in rows])
    due = {}
    for customer_id, last_at in rows:
        episode = last_at.astimezone(day.zone).date().isoformat()
        if (customer_id, episode) not in sent:
            due[customer_id] = episode
    return [_Candidate(trigger, customer, due[customer.id])
            for customer in await _customers(uow, list(due))]


def _birthdays_ahead(today: date, days: int) -> dict[tuple[int, int], date]:
    """(month, day) of the birthdays celebrated within ``days`` from ``today``, with the
    date they are celebrated on; 29 February is celebrated on 28 February in other years."""
    ahead: dict[tuple[int, int], date] = {}
    for offset in range(days + 1):
        when = today + timedelta(days=offset)
        ahead[(when.month, when.day)] = when
        if (when.month, when.day) == (2, 28) and not _leap(when.year):
            ahead[(2, 29)] = when
    return ahead


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


async def _birthday(uow: UnitOfWork, scope: _Scope, settings: TriggersSettings) -> list[_Candidate]:
    """Birthdays ``days`` days ahead (or fewer, if a pass was missed); episode: the year."""
    ahead = _birthdays_ahead(scope.day.today, settings.birthday.days)
    customers = await _people(uow, select(*PERSON)
                              .where(_eligible(scope), Customer.birth_month.is_not(None),
                                     tuple_(Customer.birth_month, Customer.birth_day).in_(list(ahead)))
                              .order_by(Customer.id))
    sent = await _sent(uow, "birthday", [c.id for c in customers])
    candidates = []
    for customer in customers:
        episode = str(ahead[(customer.birth_month or 0, customer.birth_day or 0)].year)
        if (customer.id, episode) not in sent:
            candidates.append(_Candidate("birthday", customer, episode))
    return candidates


async def _expiry(uow: UnitOfWork, scope: _Scope, settings: TriggersSettings) -> list[_Candidate]:
    """Points that burn on one shop day, announced ``days`` shop days before that day.

    The episode is the first burn day not announced yet: its points are every lot that burns
    that day, told once (the episode's row stays, held out or sent, so a later pass never
    tells them again). A burn day is announced only if one of its lots existed ``days``
    days before it (lots given with a shorter life say when they burn when given); a pass
    that was missed is caught up by the next one."""
    days = settings.expiry_warning.days
    zone = scope.day.zone
    eligible = select(Customer.id).where(_eligible(scope))
    rows = (await uow.session.execute(
        select(PointLot.customer_id, PointLot.remaining, PointLot.expires_at, PointLot.created_at)
        .where(PointLot.customer_id.between(scope.first_id, scope.last_id),
               PointLot.remaining > 0, PointLot.expires_at > scope.at,
               PointLot.expires_at < scope.day.start(days + 1),
               PointLot.customer_id.in_(eligible)))).all()
    burning: dict[int, dict[date, list[tuple[int, datetime, date]]]] = {}
    for customer_id, remaining, expires, created in rows:
        on = _as_utc(expires).astimezone(zone).date()
        burning.setdefault(customer_id, {}).setdefault(on, []).append(
            (remaining, _as_utc(expires), _as_utc(created).astimezone(zone).date()))
    announced = await _sent(uow, "expiry_warning", list(burning))
    due: dict[int, tuple[date, list[tuple[int, datetime, date]]]] = {}
    for customer_id, by_day in burning.items():
        for on in sorted(by_day):
            lots = by_day[on]
            known_in_time = any(created <= on - timedelta(days=days) for _, _, created in lots)
            if known_in_time and (customer_id, on.isoformat()) not in announced:
                due[customer_id] = (on, lots)
                break
    return [_Candidate("expiry_warning", customer, due[customer.id][0].isoformat(),
                       points=sum(points for points, _, _ in due[customer.id][1]),
                       burns_at=min(at for _, at, _ in due[customer.id][1]))
            for customer in await _customers(uow, list(due))]


async def _digest(uow: UnitOfWork, scope: _Scope, settings: TriggersSettings) -> list[_Candidate]:
    """On the configured days of the month, customers who want the digest; episode: the date.
    A customer with no purchase ever and no points left is skipped: nothing to tell."""
    today = scope.day.today
    if today.day not in settings.balance_digest.days_of_month:
        return []
    episode = today.isoformat()
    something = or_(Customer.purchase_count > 0,
                    exists().where(Purchase.customer_id == Customer.id),
                    exists().where(PointLot.customer_id == Customer.id, PointLot.remaining > 0,
                                   PointLot.expires_at > scope.at))
    stmt = (select(*PERSON)
            .where(_eligible(scope, Customer.notify_digest), something,
                   _not_sent("balance_digest", episode))
            .order_by(Customer.id))
    return [_Candidate("balance_digest", customer, episode) for customer in await _people(uow, stmt)]


async def _holidays(uow: UnitOfWork, scope: _Scope, settings: TriggersSettings) -> list[_Candidate]:
    """Holidays of the calendar within ``days`` from today (a missed pass catches up), to
    customers who take offers and news; episode: the year and the date."""
    config = settings.holidays
    due = []
    for offset in range(config.days + 1):
        when = scope.day.today + timedelta(days=offset)
        due += [(f"{when.year}-{h.date}", h) for h in config.dates if h.date == when.strftime("%m-%d")]
    if not due:
        return []
    candidates = []
    for episode, holiday in due:
        stmt = (select(*PERSON)
                .where(_eligible(scope, Customer.notify_promotions),
                       _not_sent("holidays", episode))
                .order_by(Customer.id))
        gift = config.gift_points if holiday.gift_points is None else holiday.gift_points
        candidates += [_Candidate("holidays", customer, episode, title=holiday.name, gift=gift)
                       for customer in await _people(uow, stmt)]
    return candidates


async def _tier_nudge(uow: UnitOfWork, scope: _Scope, program: ProgramSettings) -> list[_Candidate]:
    """Customers exactly one purchase short of the next tier (tiers by purchase count only;
    not before the first purchase); episode: that tier and the purchase count."""
    if program.tier_basis == "spend":
        return []
    short: dict[int, Tier] = {}
    for tier in program.tiers:
        count = tier.min_purchases - 1
        upcoming = next_tier(count, program) if count >= 1 else None
        if upcoming is not None and upcoming[1] == 1 and upcoming[0].code == tier.code:
            short[count] = tier
    if not short:
        return []
    customers = await _people(uow, select(*PERSON)
                              .where(_eligible(scope), Customer.purchase_count.in_(list(short)))
                              .order_by(Customer.id))
    sent = await _sent(uow, "tier_nudge", [c.id for c in customers])
    candidates = []
    for customer in customers:
        tier = short[customer.purchase_count]
        episode = f"{tier.code}:{customer.purchase_count}"
        if (customer.id, episode) not in sent:
            candidates.append(_Candidate("tier_nudge", customer, episode, tier=tier))
    return candidates


async def _review_request(uow: UnitOfWork, scope: _Scope, settings: TriggersSettings) -> list[_Candidate]:
    """Purchases made ``hours`` hours ago or earlier (but within two days), not refunded, not
    rated and not imported; episode: the purchase."""
    rated = exists().where(Review.purchase_id == Purchase.id)
    stmt = (select(*PERSON, Purchase).join(Purchase, Purchase.customer_id == Customer.id)
            .where(_eligible(scope),
                   Purchase.occurred_at <= scope.at - timedelta(hours=settings.review_request.hours),
                   Purchase.occurred_at > scope.at - REVIEW_WINDOW, Purchase.refunded_amount == 0,
                   Purchase.source != "import", ~rated,
                   _not_sent("review_request", cast(Purchase.id, String)))
            .order_by(Purchase.id))
    return [_Candidate("review_request", Person(*row[:-1]), str(row[-1].id), purchase=row[-1])
            for row in (await uow.session.execute(stmt)).all()]


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _marketing_received(uow: UnitOfWork, day: _Day, offset: int,
                              customer_ids: list[int]) -> dict[int, int]:
    """Marketing messages each customer receives on the shop day ``today + offset``: sent
    that day, or waiting in the outbox to go that day (a message created before its quiet
    hours ended counts on the day it arrives, not on the day it was written)."""
    arrives = func.coalesce(OutboxMessage.sent_at, OutboxMessage.not_before)
    found: dict[int, int] = {}
    for start in range(0, len(customer_ids), IN_CHUNK):
        stmt = (select(Identity.customer_id, func.count()).select_from(OutboxMessage)
                .join(Identity, Identity.id == OutboxMessage.identity_id)
                .where(Identity.customer_id.in_(customer_ids[start:start + IN_CHUNK]),
                       OutboxMessage.category == "marketing", OutboxMessage.status.in_(RECEIVING),
                       arrives >= day.start(offset), arrives < day.start(offset + 1))
                .group_by(Identity.customer_id))
        found.update((customer_id, n) for customer_id, n in (await uow.session.execute(stmt)).all()
                     if customer_id is not None)  # none is: the query asks for these ids
    return found


async def _candidates(uow: UnitOfWork, scope: _Scope, settings: Settings,
                      triggers: Sequence[str]) -> list[_Candidate]:
    found: list[_Candidate] = []
    config = settings.triggers
    lasts: list[tuple[int, datetime]] | None = None  # shared by the win-back stages
    for trigger in ORDER:
        if trigger not in triggers or not getattr(config, trigger).enabled:
            continue
        if trigger == "birthday":
            found += await _birthday(uow, scope, config)
        elif trigger == "expiry_warning":
            found += await _expiry(uow, scope, config)
        elif trigger == "balance_digest":
            found += await _digest(uow, scope, config)
        elif trigger == "holidays":
            found += await _holidays(uow, scope, config)
        elif trigger == "tier_nudge":
            found += await _tier_nudge(uow, scope, settings.program)
        elif trigger == "review_request":
            found += await _review_request(uow, scope, config)
        else:
            if lasts is None:
                lasts = await _last_purchases(uow, scope, config)
            found += await _win_back(uow, trigger, scope.day, config, lasts)
    return found


async def run_pass(core: Core, at: datetime, *, send: bool = True,
                   triggers: Sequence[str] = ORDER) -> list[Planned]:
    """The trigger pass as of ``at`` (of all triggers, or of those named); with
    ``send=False`` a preview that writes nothing. Customers are taken in ranges of ids."""
    services = core.services
    day = _Day(at, services.timezone)
    planned: list[Planned] = []
    async with core.unit_of_work() as uow:
        # the config with the owner's changes made in the chat: in force from this pass on
        settings = await effective_settings(uow, services.settings)
        first, last = (await uow.session.execute(select(func.min(Customer.id),
                                                        func.max(Customer.id)))).one()
        for start in range(first or 0, (last or -1) + 1, ID_RANGE):
            scope = _Scope(at, day, list(core.notifier.channels), start, start + ID_RANGE - 1)
            due = await _decide(core, uow, scope, triggers, settings)
            planned += [planned_of(*item) for item in due]
            if send:
                await _send(core, uow, at, due, settings)
    if send and any(not p.held_out for p in planned):
        core.notifier.on_enqueued()
    if send and planned:
        log.info("trigger pass at %s: %d fired", at.isoformat(), len(planned))
    return planned


async def _decide(core: Core, uow: UnitOfWork, scope: _Scope, triggers: Sequence[str],
                  effective: Settings) -> list[tuple[_Candidate, bool, int]]:
    """The candidates of the scope that go ahead: (candidate, held out, gift points), the
    holdout decided and the daily cap applied by trigger priority."""
    services = core.services
    settings = effective.triggers
    candidates = await _candidates(uow, scope, effective, triggers)
    # the cap counts the shop day the customer receives this pass's messages on
    arrives = quiet_until(scope.at, settings, scope.day.zone)
    offset = (arrives.astimezone(scope.day.zone).date() - scope.day.today).days
    today = await _marketing_received(uow, scope.day, offset,
                                      list({c.customer.id for c in candidates}))
    due: list[tuple[_Candidate, bool, int]] = []
    for candidate in candidates:
        customer, trigger = candidate.customer, candidate.trigger
        config: Trigger = getattr(settings, trigger)
        hold = held_out(services.secret, settings.holdout_percent, customer.id, trigger,
                        candidate.episode)
        if not hold and today.get(customer.id, 0) >= settings.daily_marketing_cap:
            continue  # over the cap today: still due, tried again on the next pass
        gift = 0 if hold else config.gift_points if candidate.gift is None else candidate.gift
        if not hold:
            today[customer.id] = today.get(customer.id, 0) + 1
        due.append((candidate, hold, gift))
    return due


def planned_of(candidate: _Candidate, hold: bool, gift: int) -> Planned:
    return Planned(candidate.trigger, candidate.customer.id, candidate.customer.card_number,
                   candidate.episode, hold, gift,
                   "held out" if hold else "gift" if gift else "message")


async def _send(core: Core, uow: UnitOfWork, at: datetime,
                due: Sequence[tuple[_Candidate, bool, int]], settings: Settings) -> None:
    """Gifts, messages and ``trigger_sends`` rows of the pass, in batches: a few statements
    per batch rather than a round trip per gift, balance, recipient and row. Each batch is
    its own transaction, and the session forgets it once committed, so a digest to a
    million customers does not hold a million rows; a pass cut short leaves whole batches,
    and the next pass sends the rest (each customer still once per episode)."""
    zone = core.services.timezone
    ledger = Ledger(uow, FrozenClock(at))
    not_before = quiet_until(at, settings.triggers, zone)
    balances = await uow.lots.available_balances(
        list({candidate.customer.id for candidate, hold, _ in due if not hold}), at)
    for start in range(0, len(due), SEND_BATCH):
        batch = due[start:start + SEND_BATCH]
        configs: list[Trigger] = [getattr(settings.triggers, c.trigger) for c, _, _ in batch]
        await ledger.earn_many([Grant(c.customer.id, gift, timedelta(days=config.gift_days),
                                      f"trigger:{c.trigger}:{c.episode}")
                                for (c, _, gift), config in zip(batch, configs, strict=True)
                                if gift], "gift")
        notifications = []
        for (candidate, hold, gift), config in zip(batch, configs, strict=True):
            if hold:
                continue
            customer_id = candidate.customer.id
            balances[customer_id] = balance = balances.get(customer_id, 0) + gift
            expires = candidate.burns_at or at + timedelta(days=config.gift_days)
            render = _renderer(candidate, settings, balance, gift or candidate.points,
                               expires.astimezone(zone).date(), zone)
            notifications.append(Notification(render, customer_id=customer_id,
                                              category="marketing"))
        rows = iter(await core.notifier.enqueue_many(uow, notifications, at, not_before=not_before)
                    if notifications else [])
        for candidate, hold, gift in batch:
            row = None if hold else next(rows)
            uow.session.add(TriggerSend(customer_id=candidate.customer.id, trigger=candidate.trigger,
                                        episode=candidate.episode, held_out=hold,
                                        outbox_message_id=row.id if row is not None else None,
                                        points_given=gift, created_at=at))
        await uow.commit()
        uow.session.expunge_all()


def _renderer(candidate: _Candidate, settings: Settings, balance: int, points: int,
              expires_on: date, zone: tzinfo) -> Callable[[Translator], list[Reply]]:
    """The message in the recipient's language: the shop's own text for that language when
    the config has one, else the built-in one (review requests keep their rating buttons)."""
    trigger, customer, program = candidate.trigger, candidate.customer, settings.program
    config: Trigger = getattr(settings.triggers, trigger)
    name, count, spent = customer.name, customer.purchase_count, customer.total_spent
    purchase = candidate.purchase
    bought = (purchase.id, _as_utc(purchase.occurred_at).astimezone(zone).date(),
              purchase.amount) if purchase is not None else None

    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        values = {"name": name or _("friend"), "balance": t.points(balance),
                  "points": t.points(points), "expires_on": t.date(expires_on),
                  "holiday": _(candidate.title) if candidate.title else "",
                  "tier": tier_label(candidate.tier or current_tier(count, program, spent), _)}
        stars: Keyboard = ()
        if bought is not None:
            purchase_id, on, amount = bought
            values |= {"date": t.date(on), "amount": t.money(amount, settings.shop.currency)}
            stars = keyboard([Button(str(rating), review_payload(purchase_id, rating))
                              for rating in RATINGS])
        own = config.own_text(t.locale)
        text = (own.format(**values) if own is not None else
                _built_in_text(trigger, t, values, points > 0, candidate, settings))
        # WhatsApp sends the trigger's approved template instead outside its 24-hour window
        return [Text(text, stars), Template(trigger, tuple(values.items()))]

    return render


def _built_in_text(trigger: str, t: Translator, values: dict[str, str], gives: bool,
                   candidate: _Candidate, settings: Settings) -> str:
    _, program = t.gettext, settings.program
    if trigger == "holidays":
        return (_("{name}, congratulations on {holiday}! Our gift: {points} (valid until "
                  "{expires_on}). Your balance is now {balance}.") if gives else
                _("{name}, congratulations on {holiday}! We are always glad to see you.")
                ).format(**values)
    extra = [_("Our gift: {points} (valid until {expires_on}).").format(**values)] if (
        gives and trigger in ("balance_digest", "tier_nudge", "review_request")) else []
    customer = candidate.customer
    if trigger == "balance_digest":
        return "\n".join([_("{name}, your balance: {balance}.").format(**values),
                          *_tier_lines(t, program, customer.purchase_count, customer.total_spent,
                                       settings.shop.currency),
                          *extra])
    if trigger == "tier_nudge":
        tier = candidate.tier
        assert tier is not None
        share = Decimal(program.max_discount_percent * tier.spend_share_percent) / 100
        return "\n".join([
            _("{name}, one more purchase and your tier is {tier}:").format(**values),
            _("• {percent} of every purchase comes back in points").format(
                percent=t.percent(tier.cashback_percent)),
            _("• points can pay up to {percent} of a purchase").format(percent=t.percent(share)),
            *extra])
    if trigger == "review_request":
        return "\n".join([*extra, _("How was your visit on {date} ({amount})? Rate it from 1 to 5:")
                          .format(**values)])
    return _text(trigger, t).format(**values)


def _tier_lines(t: Translator, program: ProgramSettings, count: int, spent: int,
                currency: str) -> list[str]:
    """The tier and how far the next one is, as /status tells it."""
    _ = t.gettext
    lines = [_("Your tier: {tier}").format(tier=tier_label(current_tier(count, program, spent), _))]
    upcoming = next_tier(count, program, spent)
    if upcoming is None:
        return lines
    following, left = upcoming
    if program.tier_basis == "spend":
        lines.append(_("{amount} more in purchases to {tier}: {percent} back in points.").format(
            amount=t.money(left * MINOR_PER_UNIT, currency), tier=tier_label(following, _),
            percent=t.percent(following.cashback_percent)))
    else:
        lines.append(t.ngettext(
            "{n} purchase to {tier}: {percent} back in points.",
            "{n} purchases to {tier}: {percent} back in points.", left,
        ).format(n=left, tier=tier_label(following, _), percent=t.percent(following.cashback_percent)))
    return lines


#: The built-in message of each trigger that has a single one (the others are composed).
BUILT_IN_TEXTS = {
    "win_back_30": N_("{name}, we miss you! You have {balance} on your card: come in and "
                      "spend them."),
    "win_back_60": N_("{name}, we miss you! Here is a gift: {points} (valid until "
                      "{expires_on}). Your balance is now {balance}."),
    "win_back_90": N_("{name}, a gift of {points} is waiting for you, but only until "
                      "{expires_on}! Your balance is now {balance}."),
    "birthday": N_("Happy birthday soon, {name}! Our gift: {points} (valid until "
                   "{expires_on}). Your balance is now {balance}."),
    "expiry_warning": N_("{name}, {points} on your card burn on {expires_on}: come in and "
                         "spend them! Your balance: {balance}."),
}


def _text(trigger: str, t: Translator) -> str:
    return t.gettext(BUILT_IN_TEXTS.get(trigger, BUILT_IN_TEXTS["expiry_warning"]))


async def scheduled_pass(core: Core) -> None:
    """The scheduler's daily job: the pass as of now."""
    await _run_scheduled(core, ORDER)


async def scheduled_review_requests(core: Core) -> None:
    """The scheduler's hourly job: review requests fall due hours after a purchase."""
    async with core.unit_of_work() as uow:  # switched on or off in the chat, maybe
        enabled = (await effective_triggers(uow, core.services.settings)).review_request.enabled
    if enabled:
        await _run_scheduled(core, ("review_request",))


async def _run_scheduled(core: Core, triggers: Sequence[str]) -> None:
    try:
        await run_pass(core, core.services.clock.now(), triggers=triggers)
    except IntegrityError:
        # another instance's pass recorded the same sends first (trigger_sends is unique);
        # this one was rolled back whole and the next pass picks up whatever it left
        log.info("trigger pass skipped: another pass ran at the same moment")


#: What a trigger's episode tells about why the customer was picked.
EPISODE_MEANING = {"win_back_30": "last purchase", "win_back_60": "last purchase",
                   "win_back_90": "last purchase", "birthday": "birthday year",
                   "expiry_warning": "points that burn on", "balance_digest": "digest date",
                   "holidays": "holiday", "tier_nudge": "next tier:purchases",
                   "review_request": "purchase"}
