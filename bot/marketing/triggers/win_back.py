"""Win-back in three stages: a customer who has not bought for ``days`` days hears from the
shop (the 1st stage: a reminder of their balance; the 2nd and 3rd: a gift). Each stage is due
from its ``days`` until the next enabled stage's (the last one for ``LAST_CATCH_UP`` days);
the episode is the date of the last purchase, so a new purchase starts the stages again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.config import Settings, Trigger, TriggersSettings
from bot.core.i18n import N_, Translator
from bot.marketing.triggers.base import (
    AutomaticTrigger,
    Candidate,
    Day,
    Scope,
    as_utc,
    customers,
    eligible,
    sent,
)
from bot.storage.models import Customer, Purchase
from bot.storage.uow import UnitOfWork

STAGES = ("win_back_30", "win_back_60", "win_back_90")
LAST_CATCH_UP = 30  # days the last win-back stage stays due when no later stage follows


class WinBack(AutomaticTrigger):
    episode = "last purchase"

    def __init__(self, name: str, title: str, about: str) -> None:
        self.name, self.title, self.about = name, title, about

    def timing(self, t: Translator, config: Trigger) -> str:
        return t.gettext("day {n} without a purchase").format(n=config.days)  # an ordinal: no plural

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        """Customers whose last purchase was ``days`` or more days ago, until the next stage;
        only the few not yet sent this episode are loaded."""
        if "win_back" not in scope.shared:  # the stages read the last purchases once
            scope.shared["win_back"] = await last_purchases(uow, scope, settings.triggers)
        lasts: list[tuple[int, datetime]] = scope.shared["win_back"]
        day = scope.day
        days, until = window(self.name, settings.triggers)
        after, before = day.start(1 - until), day.start(1 - days)
        rows = [(customer_id, last_at) for customer_id, last_at in lasts if after <= last_at < before]
        done = await sent(uow, self.name, [customer_id for customer_id, _ in rows])
        due = {}
        for customer_id, last_at in rows:
            episode = last_at.astimezone(day.zone).date().isoformat()
            if (customer_id, episode) not in done:
                due[customer_id] = episode
        return [Candidate(self.name, customer, due[customer.id])
                for customer in await customers(uow, list(due))]


def window(stage: str, settings: TriggersSettings) -> tuple[int, int]:
    """A win-back stage is due from ``days`` days without a purchase until the next stage."""
    config: Trigger = getattr(settings, stage)
    later = [getattr(settings, s).days for s in STAGES[STAGES.index(stage) + 1:]
             if getattr(settings, s).enabled and getattr(settings, s).days > config.days]
    return config.days, min(later) if later else config.days + LAST_CATCH_UP


async def last_purchases(uow: UnitOfWork, scope: Scope,
                         settings: TriggersSettings) -> list[tuple[int, datetime]]:
    """(customer id, last purchase) of the eligible customers whose last purchase falls in
    some enabled win-back stage's window: one pass over the purchases for all the stages."""
    windows = [window(s, settings) for s in STAGES if getattr(settings, s).enabled]
    if not windows:
        return []
    day: Day = scope.day
    last = (select(Purchase.customer_id.label("customer_id"),
                   func.max(Purchase.occurred_at).label("last_at"))
            .where(Purchase.customer_id.between(scope.first_id, scope.last_id),
                   Purchase.occurred_at <= scope.at)
            .group_by(Purchase.customer_id).subquery())
    # days since the last purchase in [days, until) ⇔ its local date in (today-until, today-days]
    stmt = (select(Customer.id, last.c.last_at).join(last, last.c.customer_id == Customer.id)
            .where(eligible(scope),
                   last.c.last_at >= day.start(1 - max(until for _, until in windows)),
                   last.c.last_at < day.start(1 - min(days for days, _ in windows))))
    return [(customer_id, as_utc(last_at))
            for customer_id, last_at in (await uow.session.execute(stmt)).all()]


FIRST = WinBack("win_back_30", N_("Win-back, 1st stage"),
                N_("{name}, we miss you! You have {balance} on your card: come in and spend them."))
SECOND = WinBack("win_back_60", N_("Win-back, 2nd stage"),
                 N_("{name}, we miss you! Here is a gift: {points} (valid until {expires_on}). "
                    "Your balance is now {balance}."))
THIRD = WinBack("win_back_90", N_("Win-back, 3rd stage"),
                N_("{name}, a gift of {points} is waiting for you, but only until {expires_on}! "
                   "Your balance is now {balance}."))
