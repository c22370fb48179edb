"""The trigger pass: every registered trigger selects its customers as of a moment with
set-based queries, then every candidate gets one ``trigger_sends`` row per episode, so a
trigger fires at most once per customer per episode however often the pass runs. A keyed
hash puts a fixed share of them in the holdout (recorded, nothing sent, no points); the
others get their gift through the ledger and a "marketing" message through the outbox in
the same transaction as their ``trigger_sends`` row (batches of customers), outside quiet
hours and within the daily cap of marketing messages, the triggers taken by priority
(bot/marketing/triggers/registry.py). With ``send=False`` the pass is the preview."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot.config import Settings, Trigger
from bot.core.clock import FrozenClock
from bot.core.conversation import Core
from bot.core.i18n import Translator
from bot.core.keys import derive, keyed_hash
from bot.core.replies import Reply, Template, Text
from bot.delivery.notify import Notification
from bot.loyalty.ledger import Grant, Ledger
from bot.loyalty.program_settings import effective_settings, effective_triggers
from bot.loyalty.tiers import current_tier, tier_label
from bot.marketing.quiet_hours import quiet_until
from bot.marketing.triggers.base import Candidate, Day, Scope
from bot.marketing.triggers.registry import HOURLY, ORDER, TRIGGERS, named
from bot.storage.errors import IntegrityError
from bot.storage.models import TriggerSend
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

SEND_BATCH = 2000  # candidates whose gifts, messages and rows are written together
ID_RANGE = 50_000  # customer ids selected at a time


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


def held_out(secret: bytes, percent: int, customer_id: int, trigger: str, episode: str) -> bool:
    digest = keyed_hash(derive(secret, "trigger-holdout"), f"{customer_id}:{trigger}:{episode}")
    return int(digest[:8], 16) % 100 < percent


async def run_pass(core: Core, at: datetime, *, send: bool = True,
                   triggers: Sequence[str] = ORDER) -> list[Planned]:
    """The trigger pass as of ``at`` (of all triggers, or of those named); with
    ``send=False`` a preview that writes nothing. Customers are taken in ranges of ids."""
    services = core.services
    day = Day(at, services.timezone)
    planned: list[Planned] = []
    started = time.perf_counter()
    async with core.unit_of_work() as uow:
        # the config with the owner's changes made in the chat: in force from this pass on
        settings = await effective_settings(uow, services.settings)
        first, last = await uow.customers.id_range()
        for start in range(first or 0, (last or -1) + 1, ID_RANGE):
            scope = Scope(at, day, list(core.notifier.channels), start, start + ID_RANGE - 1)
            due = await _decide(core, uow, scope, triggers, settings)
            planned += [planned_of(*item) for item in due]
            if send:
                await _send(core, uow, at, due, settings)
    if send:
        core.metrics.trigger_pass(time.perf_counter() - started)
    if send and any(not p.held_out for p in planned):
        core.notifier.on_enqueued()
    if send and planned:
        log.info("trigger pass at %s: %d fired", at.isoformat(), len(planned))
    return planned


async def _candidates(uow: UnitOfWork, scope: Scope, settings: Settings,
                      triggers: Sequence[str]) -> list[Candidate]:
    """The candidates of every trigger asked for and switched on, in the order of priority."""
    found: list[Candidate] = []
    for trigger in TRIGGERS:
        if trigger.name in triggers and trigger.config(settings.triggers).enabled:
            found += await trigger.select(uow, scope, settings)
    return found


async def _decide(core: Core, uow: UnitOfWork, scope: Scope, triggers: Sequence[str],
                  effective: Settings) -> list[tuple[Candidate, bool, int]]:
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
    due: list[tuple[Candidate, bool, int]] = []
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


async def _marketing_received(uow: UnitOfWork, day: Day, offset: int,
                              customer_ids: list[int]) -> dict[int, int]:
    """Marketing messages each customer receives on the shop day ``today + offset``: sent
    that day, or waiting in the outbox to go that day (a message created before its quiet
    hours ended counts on the day it arrives, not on the day it was written)."""
    return await uow.outbox_messages.marketing_arriving(customer_ids, day.start(offset),
                                                        day.start(offset + 1))


def planned_of(candidate: Candidate, hold: bool, gift: int) -> Planned:
    return Planned(candidate.trigger, candidate.customer.id, candidate.customer.card_number,
                   candidate.episode, hold, gift,
                   "held out" if hold else "gift" if gift else "message")


async def _send(core: Core, uow: UnitOfWork, at: datetime,
                due: Sequence[tuple[Candidate, bool, int]], settings: Settings) -> None:
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
            render = renderer(candidate, settings, balance, gift or candidate.points,
                              expires.astimezone(zone).date(), zone)
            notifications.append(Notification(render, customer_id=customer_id,
                                              category="marketing"))
        rows = iter(await core.notifier.enqueue_many(uow, notifications, at, not_before=not_before)
                    if notifications else [])
        queued: Counter[str] = Counter()
        for candidate, hold, gift in batch:
            row = None if hold else next(rows)
            if row is not None:
                queued[candidate.trigger] += 1
            uow.trigger_sends.add(TriggerSend(customer_id=candidate.customer.id, trigger=candidate.trigger,
                                              episode=candidate.episode, held_out=hold,
                                              outbox_message_id=row.id if row is not None else None,
                                              points_given=gift, created_at=at))
        await uow.commit()
        uow.forget_loaded()
        for trigger, count in queued.items():
            core.metrics.trigger_queued(trigger, count)


def renderer(candidate: Candidate, settings: Settings, balance: int, points: int,
             expires_on: date, zone: tzinfo) -> Callable[[Translator], list[Reply]]:
    """The message in the recipient's language: the shop's own text for that language when
    the config has one, else the trigger's built-in one, with the trigger's buttons; and the
    WhatsApp template hint (the template of the trigger's code, given every value)."""
    trigger, customer, program = named(candidate.trigger), candidate.customer, settings.program
    config = trigger.config(settings.triggers)
    name, count, spent = customer.name, customer.purchase_count, customer.total_spent

    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        values = {"name": name or _("friend"), "balance": t.points(balance),
                  "points": t.points(points), "expires_on": t.date(expires_on),
                  "holiday": _(candidate.title) if candidate.title else "",
                  "tier": tier_label(candidate.tier or current_tier(count, program, spent), _)}
        values |= trigger.values(t, candidate, settings, zone)
        own = config.own_text(t.locale)
        text = (own.format(**values) if own is not None else
                trigger.text(t, values, points > 0, candidate, settings))
        # WhatsApp sends the trigger's approved template instead outside its 24-hour window
        return [Text(text, trigger.buttons(candidate)), Template(trigger.name, tuple(values.items()))]

    return render


async def scheduled_pass(core: Core) -> None:
    """The scheduler's daily job: the pass as of now."""
    await _run_scheduled(core, ORDER)


async def scheduled_hourly_pass(core: Core) -> None:
    """The scheduler's hourly job: the triggers due hours after something happened (review
    requests: hours after a purchase), those switched on."""
    async with core.unit_of_work() as uow:  # switched on or off in the chat, maybe
        config = await effective_triggers(uow, core.services.settings)
    enabled = tuple(name for name in HOURLY if named(name).config(config).enabled)
    if enabled:
        await _run_scheduled(core, enabled)


async def _run_scheduled(core: Core, triggers: Sequence[str]) -> None:
    try:
        await run_pass(core, core.services.clock.now(), triggers=triggers)
    except IntegrityError:
        # another instance's pass recorded the same sends first (trigger_sends is unique);
        # this one was rolled back whole and the next pass picks up whatever it left
        log.info("trigger pass skipped: another pass ran at the same moment")
