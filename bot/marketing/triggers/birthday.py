"""Birthday: a greeting with a gift ``days`` days before the customer's birthday (or fewer,
if a pass was missed); the episode is the year, so once a year. 29 February is celebrated on
28 February in other years."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy import select, tuple_

from bot.config import Settings, Trigger
from bot.core.i18n import N_, Translator
from bot.marketing.triggers.base import (
    PERSON,
    AutomaticTrigger,
    Candidate,
    Scope,
    days_before,
    eligible,
    people,
    sent,
)
from bot.storage.models import Customer
from bot.storage.uow import UnitOfWork


class Birthday(AutomaticTrigger):
    name = "birthday"
    title = N_("Birthday")
    episode = "birthday year"
    about = N_("Happy birthday soon, {name}! Our gift: {points} (valid until {expires_on}). "
               "Your balance is now {balance}.")

    def timing(self, t: Translator, config: Trigger) -> str:
        return days_before(t, config)

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        ahead = birthdays_ahead(scope.day.today, settings.triggers.birthday.days)
        found = await people(uow, select(*PERSON)
                             .where(eligible(scope), Customer.birth_month.is_not(None),
                                    tuple_(Customer.birth_month, Customer.birth_day).in_(list(ahead)))
                             .order_by(Customer.id))
        done = await sent(uow, self.name, [c.id for c in found])
        candidates = []
        for customer in found:
            episode = str(ahead[(customer.birth_month or 0, customer.birth_day or 0)].year)
            if (customer.id, episode) not in done:
                candidates.append(Candidate(self.name, customer, episode))
        return candidates


def birthdays_ahead(today: date, days: int) -> dict[tuple[int, int], date]:
    """(month, day) of the birthdays celebrated within ``days`` from ``today``, with the
    date they are celebrated on."""
    ahead: dict[tuple[int, int], date] = {}
    for offset in range(days + 1):
        when = today + timedelta(days=offset)
        ahead[(when.month, when.day)] = when
        if (when.month, when.day) == (2, 28) and not calendar.isleap(when.year):
            ahead[(2, 29)] = when
    return ahead

