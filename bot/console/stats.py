"""The owner's figures for a run of shop-local days [first, last] (the last one up to now),
read from the day book (bot/storage/day_book.py): a few small grouped queries over rows per
day, never over the receipts or the customers, so the time does not grow with them.

Definitions (money in minor units, net of refunds; a refund counts against the purchase it
refunds, i.e. in the purchase's day; "days" are the shop's, in its time zone):

- A *member* is a customer who finished signing up (``registered_at``). *Members* = members
  who joined by the last day; *new members* = joined on the days of the period.
- A *purchase* is a receipt not refunded in full (``amount > refunded_amount``). *Revenue* is
  Σ(amount − refunded_amount) of the receipts of the period (receipts of erased customers
  included: the sale happened); *average check* = revenue // purchases.
- A *buyer* of some days is a card holder (a member, or a card enrolled at the till) with a
  purchase on one of those days. *Buyers* are the period's; *active in 30 / 90 days*: the
  buyers of the 30 / 90 days up to the last day. *Repeat-purchase rate* = buyers with at
  least two purchases up to the last day (in the period or before it) / buyers × 100 %.
- *A customer at a day's end* = a buyer of the ``customer_days`` days up to that day.
  *Customers at the start* are those at the end of the day before the first, *at the end*
  those at the end of the last day, *new customers* = at the end but not at the start;
  CRR = (customers at end − new) / customers at start × 100 % (those still customers from
  the start, in percent of the start; none when there was nobody at the start).
- CRC = retention spend of the period / buyers of the period ("active customers"). The
  spend is configured per calendar month; a period covering part of a month takes that
  share of it (by time), so a calendar month takes its own figure exactly.
- LTV = net revenue to date of the members who joined by the last day / their number; per
  cohort the same for the members who joined in that month.
- Points in the period: *issued* = additions (earned, gifts, points given back by a refund),
  *spent* = deductions other than expiry (paid with, taken back by a refund), *expired* =
  burnt. *Outstanding* = the points of live lots now (pending ones included): the liability,
  1 point = 1 currency unit.
- Weekly series: 12 seven-day runs ending with the last day: revenue and buyers.
- Cohort retention: for the last 12 months of joining up to the last day's month, the share
  of each cohort who made a purchase in each month since joining (month 0 = that month), in
  whole calendar months (a period ending today: up to now; a month: all of it).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import SQLColumnExpression, and_, case, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from bot.loyalty.money import MINOR_PER_UNIT
from bot.marketing.reports import Group, trigger_report
from bot.storage.models import PointLot, Purchase, StatsCohort, StatsDay, StatsGap
from bot.storage.uow import UnitOfWork

TENTH = Decimal("0.1")
WEEKS = 12
COHORT_MONTHS = 12
DAY = timedelta(days=1)


# --- the formulas --------------------------------------------------------------------------

def crr(at_start: int, at_end: int, new: int) -> Decimal | None:
    """Customer retention rate in percent, to a tenth: (end − new) / start × 100."""
    if at_start <= 0:
        return None
    return (Decimal(100 * (at_end - new)) / at_start).quantize(TENTH, ROUND_HALF_UP)


def crc(spend: int, active: int) -> int | None:
    """Cost of retention per active customer, in minor units (half up); spend in minor units."""
    if active <= 0:
        return None
    return int((Decimal(spend) / active).quantize(Decimal(1), ROUND_HALF_UP))


def share(part: int, whole: int) -> Decimal:
    """``part`` in percent of ``whole``, to a tenth (0 for nothing)."""
    if whole <= 0:
        return Decimal(0)
    return (Decimal(100 * part) / whole).quantize(TENTH, ROUND_HALF_UP)


def month_start(year: int, month: int, tz: tzinfo) -> datetime:
    """The first moment of a calendar month in the shop's time zone."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=tz)


def retention_spend(spend: dict[str, float], start: datetime, end: datetime, tz: tzinfo) -> int:
    """The configured spend ({"YYYY-MM": money units}) falling in [start, end), in minor
    units: each month's figure times the share of that month the period covers."""
    total = Fraction(0)
    for key, amount in spend.items():
        year, month = int(key[:4]), int(key[5:7])
        first, after = month_start(year, month, tz), month_start(year, month + 1, tz)
        overlap = min(end, after) - max(start, first)
        if overlap > timedelta(0):
            minor = Fraction(Decimal(str(amount))) * MINOR_PER_UNIT
            total += minor * Fraction(overlap / timedelta(seconds=1)) / Fraction(
                (after - first) / timedelta(seconds=1))
    return int((Decimal(total.numerator) / total.denominator).quantize(Decimal(1), ROUND_HALF_UP))


# --- the results ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Cohort:
    month: date  # the first day of the registration month (shop-local)
    members: int
    revenue: int  # net, to date
    buying: tuple[int, ...]  # members who bought in month 0, 1, … since (up to the end)

    @property
    def ltv(self) -> int:
        return self.revenue // self.members if self.members else 0


@dataclass(frozen=True, slots=True)
class Week:
    start: datetime
    revenue: int
    buyers: int


@dataclass(frozen=True, slots=True)
class Points:
    issued: int
    spent: int
    expired: int
    outstanding: int  # now


@dataclass(frozen=True, slots=True)
class Stats:
    start: datetime
    end: datetime
    members: int
    new_members: int
    active_30: int
    active_90: int
    purchases: int
    revenue: int
    buyers: int
    repeat_buyers: int
    customers_at_start: int
    customers_at_end: int
    retained: int  # customers at the start who are customers at the end as well
    retention_spend: int
    lifetime_revenue: int  # of the members at the end, to date
    points: Points
    triggers: tuple[Group, Group, int]  # recipients, holdout, sent (all triggers together)
    weeks: tuple[Week, ...] = ()
    cohorts: tuple[Cohort, ...] = field(default=())

    @property
    def new_customers(self) -> int:
        return self.customers_at_end - self.retained

    @property
    def average_check(self) -> int:
        return self.revenue // self.purchases if self.purchases else 0

    @property
    def repeat_rate(self) -> Decimal:
        return share(self.repeat_buyers, self.buyers)

    @property
    def crr(self) -> Decimal | None:
        return crr(self.customers_at_start, self.customers_at_end, self.new_customers)

    @property
    def crc(self) -> int | None:
        return crc(self.retention_spend, self.buyers)

    @property
    def ltv(self) -> int:
        return self.lifetime_revenue // self.members if self.members else 0


# --- the queries -------------------------------------------------------------------------

def _total(value: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(value), 0)


def _sum_if(condition: SQLColumnExpression[bool], value: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    return _total(case((condition, value), else_=0))


@dataclass(frozen=True, slots=True)
class Days:
    """A run of days, both ends included."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, count: int) -> Days:
        return cls(last - (count - 1) * DAY, last)

    def holds(self, column: SQLColumnExpression[Any]) -> ColumnElement[bool]:
        return and_(column >= self.first, column <= self.last)


def _buyers(days: Days) -> ColumnElement:
    """Customers with a purchase on these days: their first purchase since ``days.first``."""
    g = StatsGap
    return _sum_if(and_(days.holds(g.day), g.previous_day < days.first), g.purchases)


async def _buying(uow: UnitOfWork, period: Days, customer_days: int,
                  weeks: Sequence[Days]) -> dict[str, int]:
    """Every distinct-customer figure of the period, in one pass over the book's gaps."""
    g, last = StatsGap, period.last
    at_start = Days(period.first - customer_days * DAY, period.first - DAY)
    # at the start but not at the end: their last purchase up to the last day falls in
    # ``gone`` (when the period is no longer than customer_days; else see _retained_by_scan)
    gone = Days(at_start.first, last - customer_days * DAY)
    figures = {
        "buyers": _buyers(period),
        "active_30": _buyers(Days.ending(last, 30)),
        "active_90": _buyers(Days.ending(last, 90)),
        "at_start": _buyers(at_start),
        "at_end": _buyers(Days.ending(last, customer_days)),
        "gone_bought": _sum_if(gone.holds(g.day), g.purchases),
        "gone_came_again": _sum_if(and_(g.day <= last, gone.holds(g.previous_day)), g.purchases),
        "first_buyers": _sum_if(and_(period.holds(g.day), g.nth == 1), g.purchases),
        "second_buyers": _sum_if(and_(g.day <= last, g.nth == 2, period.holds(g.previous_day)),
                                 g.purchases),
    } | {f"week_{i}": _buyers(week) for i, week in enumerate(weeks)}
    since = min(at_start.first, weeks[0].first, last - 89 * DAY)
    stmt = select(*figures.values()).where(g.day >= since, g.day <= last)
    row = (await uow.session.execute(stmt)).one()
    return dict(zip(figures, map(int, row), strict=True))


async def _retained_by_scan(uow: UnitOfWork, at_start: tuple[datetime, datetime],
                            at_end: tuple[datetime, datetime]) -> int:
    """Customers with a purchase in both spans, from the receipts: for a period longer than
    customer_days, where the book's pairs of days cannot tell."""
    p, later = Purchase, Purchase.__table__.alias("later")
    counted = p.amount > p.refunded_amount
    start_buyers = (select(p.customer_id).where(
        p.customer_id.is_not(None), counted, p.occurred_at >= at_start[0],
        p.occurred_at < at_start[1]).group_by(p.customer_id).subquery())
    again = exists().where(later.c.customer_id == start_buyers.c.customer_id,
                           later.c.amount > later.c.refunded_amount,
                           later.c.occurred_at >= at_end[0], later.c.occurred_at < at_end[1])
    return int(await uow.session.scalar(select(func.count()).where(again)
                                        .select_from(start_buyers)) or 0)


async def _days(uow: UnitOfWork, period: Days, weeks: Sequence[Days],
                months: Sequence[date]) -> dict[str, int]:
    """Sums of the book's days: the period's receipts and points, members, and the points
    held now by everyone (all days)."""
    d, last = StatsDay, period.last
    in_period = period.holds(d.day)
    figures = {
        "members": _sum_if(d.day <= last, d.joined),
        "new_members": _sum_if(in_period, d.joined),
        "lifetime_revenue": _sum_if(d.day <= last, d.joined_revenue),
        "purchases": _sum_if(in_period, d.purchases),
        "revenue": _sum_if(in_period, d.revenue),
        "issued": _sum_if(in_period, d.points_issued),
        "spent": _sum_if(in_period, d.points_spent),
        "expired": _sum_if(in_period, d.points_expired),
        "held": _total(d.points_issued - d.points_spent - d.points_expired),
    } | {f"week_{i}": _sum_if(week.holds(d.day), d.revenue) for i, week in enumerate(weeks)}
    for i, (start, end) in enumerate(itertools.pairwise(months)):
        joined_then = and_(d.day >= start, d.day < end)
        figures[f"cohort_{i}"] = _sum_if(joined_then, d.joined)
        figures[f"cohort_revenue_{i}"] = _sum_if(joined_then, d.joined_revenue)
    row = (await uow.session.execute(select(*figures.values()))).one()
    return dict(zip(figures, map(int, row), strict=True))


async def _cohort_buying(uow: UnitOfWork, last: date,
                         months: Sequence[date]) -> dict[tuple[date, date], int]:
    """{(month of joining, month of buying): members of that cohort who bought then}."""
    c = StatsCohort
    stmt = (select(c.cohort, c.month, func.sum(c.buyers))
            .where(c.cohort >= months[0], c.month <= last)
            .group_by(c.cohort, c.month).having(func.sum(c.buyers) != 0))
    return {(cohort, month): int(n) for cohort, month, n in await uow.session.execute(stmt)}


async def _points_past_due(uow: UnitOfWork, now: datetime) -> int:
    """Points of lots past their expiry that the expiry job has not burnt yet."""
    return int(await uow.session.scalar(select(func.coalesce(func.sum(PointLot.remaining), 0))
                                        .where(PointLot.remaining > 0,
                                               PointLot.expires_at <= now)) or 0)


def cohort_months(last: date, count: int = COHORT_MONTHS) -> list[date]:
    """count + 1 month starts: the last ``count`` months up to the last day's, and the next."""
    index = last.year * 12 + last.month - 1 - count + 1
    return [date((index + i) // 12, (index + i) % 12 + 1, 1) for i in range(count + 1)]


def midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


async def gather(uow: UnitOfWork, first: date, last: date, now: datetime, tz: tzinfo,
                 customer_days: int, spend: dict[str, float],
                 spend_end: datetime | None = None) -> Stats:
    """Every figure of the days [first, last] (the last one up to ``now``). ``spend_end``:
    where the period's retention spend stops (a calendar month still running: its own end,
    not now)."""
    period = Days(first, last)
    start, end = midnight(first, tz), min(now, midnight(last + DAY, tz))
    weeks = [Days.ending(last - 7 * (WEEKS - 1 - i) * DAY, 7) for i in range(WEEKS)]
    months = cohort_months(last)
    totals = await _days(uow, period, weeks, months)
    bought = await _buying(uow, period, customer_days, weeks)
    retained = bought["at_start"] - (bought["gone_bought"] - bought["gone_came_again"])
    if (last - first).days + 1 > customer_days:
        retained = await _retained_by_scan(
            uow, (midnight(first - customer_days * DAY, tz), start),
            (midnight(last - (customer_days - 1) * DAY, tz), midnight(last + DAY, tz)))
    singles = bought["first_buyers"] - bought["second_buyers"]
    buying = await _cohort_buying(uow, last, months)
    cohorts = tuple(
        Cohort(month, totals[f"cohort_{i}"], totals[f"cohort_revenue_{i}"],
               tuple(buying.get((month, since), 0) for since in months[i:-1]))
        for i, month in enumerate(months[:-1]))
    report = await trigger_report(uow, start, end)
    recipients = _sum_groups([stats.recipients for stats in report])
    holdout = _sum_groups([stats.holdout for stats in report])
    return Stats(
        start=start, end=end, members=totals["members"], new_members=totals["new_members"],
        active_30=bought["active_30"], active_90=bought["active_90"],
        purchases=totals["purchases"], revenue=totals["revenue"], buyers=bought["buyers"],
        repeat_buyers=bought["buyers"] - singles, customers_at_start=bought["at_start"],
        customers_at_end=bought["at_end"], retained=retained,
        retention_spend=retention_spend(spend, start, spend_end or end, tz),
        lifetime_revenue=totals["lifetime_revenue"],
        points=Points(totals["issued"], totals["spent"], totals["expired"],
                      totals["held"] - await _points_past_due(uow, now)),
        triggers=(recipients, holdout, sum(stats.sent for stats in report)),
        weeks=tuple(Week(midnight(week.first, tz), totals[f"week_{i}"], bought[f"week_{i}"])
                    for i, week in enumerate(weeks)),
        cohorts=cohorts)


def _sum_groups(groups: list[Group]) -> Group:
    return Group(*(sum(getattr(g, name) for g in groups)
                   for name in ("size", "came_back", "purchases", "revenue", "points_spent")))
