"""Points about to burn: the points that burn on one shop day, announced ``days`` shop days
before that day.

The episode is the first burn day not announced yet: its points are every lot that burns
that day, told once (the episode's row stays, held out or sent, so a later pass never tells
them again). A burn day is announced only if one of its lots existed ``days`` days before it
(lots given with a shorter life say when they burn when given); a pass that was missed is
caught up by the next one."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.config import Settings, Trigger
from bot.core.i18n import N_, Translator
from bot.marketing.triggers.base import (
    AutomaticTrigger,
    Candidate,
    Scope,
    as_utc,
    customers,
    days_before,
    eligible,
    sent,
)
from bot.storage.models import Customer, PointLot
from bot.storage.uow import UnitOfWork


class ExpiryWarning(AutomaticTrigger):
    name = "expiry_warning"
    title = N_("Points about to burn")
    episode = "points that burn on"
    about = N_("{name}, {points} on your card burn on {expires_on}: come in and spend them! "
               "Your balance: {balance}.")

    def timing(self, t: Translator, config: Trigger) -> str:
        return days_before(t, config)

    async def select(self, uow: UnitOfWork, scope: Scope, settings: Settings) -> list[Candidate]:
        days = settings.triggers.expiry_warning.days
        zone = scope.day.zone
        reachable = select(Customer.id).where(eligible(scope))
        rows = (await uow.session.execute(
            select(PointLot.customer_id, PointLot.remaining, PointLot.expires_at, PointLot.created_at)
            .where(PointLot.customer_id.between(scope.first_id, scope.last_id),
                   PointLot.remaining > 0, PointLot.expires_at > scope.at,
                   PointLot.expires_at < scope.day.start(days + 1),
                   PointLot.customer_id.in_(reachable)))).all()
        burning: dict[int, dict[date, list[tuple[int, datetime, date]]]] = {}
        for customer_id, remaining, expires, created in rows:
            on = as_utc(expires).astimezone(zone).date()
            burning.setdefault(customer_id, {}).setdefault(on, []).append(
                (remaining, as_utc(expires), as_utc(created).astimezone(zone).date()))
        announced = await sent(uow, self.name, list(burning))
        due: dict[int, tuple[date, list[tuple[int, datetime, date]]]] = {}
        for customer_id, by_day in burning.items():
            for on in sorted(by_day):
                lots = by_day[on]
                known_in_time = any(created <= on - timedelta(days=days) for _, _, created in lots)
                if known_in_time and (customer_id, on.isoformat()) not in announced:
                    due[customer_id] = (on, lots)
                    break
        return [Candidate(self.name, customer, due[customer.id][0].isoformat(),
                          points=sum(points for points, _, _ in due[customer.id][1]),
                          burns_at=min(at for _, at, _ in due[customer.id][1]))
                for customer in await customers(uow, list(due))]
