"""Holidays: a greeting on each holiday of the calendar (``triggers.holidays.dates``), with
the holiday's gift, to customers who take offers and news; ``days`` days before it (a missed
pass catches up); the episode is the year and the date."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.config import Settings, Trigger
from bot.core.i18n import N_, Translator
from bot.marketing.triggers.base import (
    PERSON,
    AutomaticTrigger,
    Candidate,
    Scope,
    days_before,
    eligible,
    not_sent,
    people,
)
from bot.storage.models import Customer
from bot.storage.uow import UnitOfWork

DEFAULT_HOLIDAY_NAMES = (N_("New Year"), N_("International Women's Day"))  # for the catalogs


class Holidays(AutomaticTrigger):
    name = "holidays"
    title = N_("Holidays")
    episode = "holiday"
    about = N_("A greeting on the holiday, with the gift and the balance when there is a gift.")

    def timing(self, t: Translator, config: Trigger) -> str:
        return days_before(t, config)

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        config = settings.triggers.holidays
        due = []
        for offset in range(config.days + 1):
            when = scope.day.today + timedelta(days=offset)
            due += [(f"{when.year}-{h.date}", h) for h in config.dates if h.date == when.strftime("%m-%d")]
        candidates = []
        for episode, holiday in due:
            stmt = (select(*PERSON)
                    .where(eligible(scope, Customer.notify_promotions), not_sent(self.name, episode))
                    .order_by(Customer.id))
            gift = config.gift_points if holiday.gift_points is None else holiday.gift_points
            candidates += [Candidate(self.name, customer, episode, title=holiday.name, gift=gift)
                           for customer in await people(uow, stmt)]
        return candidates

    def text(self, t: Translator, values: dict[str, str], gives: bool, candidate: Candidate,
             settings: Settings) -> str:
        _ = t.gettext
        return (_("{name}, congratulations on {holiday}! Our gift: {points} (valid until "
                  "{expires_on}). Your balance is now {balance}.") if gives else
                _("{name}, congratulations on {holiday}! We are always glad to see you.")
                ).format(**values)
