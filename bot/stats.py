"""The owner's figures for a period [start, end): a handful of set-based queries, each one
scan aggregated by the database (no customer is loaded into Python).

Definitions (money in minor units, net of refunds; a refund counts against the purchase it
refunds, i.e. in the purchase's period):

- A *member* is a customer whose registration finished (``registered_at`` set) before the
  moment in question. *Members* = members at the end; *new members* = registered in the period.
- A *purchase* is a receipt not refunded in full (``amount > refunded_amount``). *Revenue* is
  Σ(amount − refunded_amount) of the receipts in the period (receipts of erased customers
  included: the sale happened); *average check* = revenue // purchases.
- *Active in 30 / 90 days*: members who made a purchase in the 30 / 90 days before the end.
- *Buyers*: members with a purchase in the period. *Repeat-purchase rate* = buyers whose
  purchases up to the end number at least two (in the period or before it) / buyers × 100 %.
- *A customer at a moment* = a member then who made a purchase within ``customer_days``
  before it. *New customers* = customers at the end who were not customers at the start;
  CRR = (customers at end − new) / customers at start × 100 % (those still customers from
  the start, in percent of the start; none when there was nobody at the start).
- CRC = retention spend of the period / buyers of the period ("active customers"). The
  spend is configured per calendar month; a period covering part of a month takes that
  share of it (by time), so a calendar month takes its own figure exactly.
- LTV = net revenue to date (``customers.total_spent``, kept by checkout and refunds) of the
  members at the end / their number; per cohort the same for the members who registered in
  that (shop-local) month.
- Points in the period: *issued* = additions (earned, gifts, points given back by a refund),
  *spent* = deductions other than expiry (paid with, taken back by a refund), *expired* =
  burnt. *Outstanding* = the points of live lots now (pending ones included): the liability,
  1 point = 1 currency unit.
- Weekly series: 12 seven-day windows ending at the end: revenue and members who bought.
- Cohort retention: for the last 12 shop-local months of registration, the share of each
  cohort who made a purchase in each month since registering (month 0 = that month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import and_, case, exists, func, select, text, true
from sqlalchemy.sql.elements import ColumnElement

from bot.money import MINOR_PER_UNIT
from bot.reports import Group, trigger_report
from bot.storage.models import Customer, PointLot, PointOperation, Purchase
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


# --- the queries ---------------------------------------------------------------------------

def _total(value: ColumnElement) -> ColumnElement:
    return func.coalesce(func.sum(value), 0)


def _count_if(condition: ColumnElement) -> ColumnElement:
    return _total(case((condition, 1), else_=0))


def _bucket(column: ColumnElement, bounds: list[datetime]) -> ColumnElement:
    """The index i of [bounds[i], bounds[i+1]) that holds the moment; −1 before bounds[0]
    (portable: the bounds are computed here, in the shop's time zone, not by the database)."""
    whens = [(column < bounds[0], -1)]
    whens += [(column < bound, i) for i, bound in enumerate(bounds[1:])]
    return case(*whens, else_=len(bounds) - 1)


COUNTED = Purchase.amount > Purchase.refunded_amount
NET = Purchase.amount - Purchase.refunded_amount


async def _members(uow: UnitOfWork, start: datetime, end: datetime,
                   months: list[datetime]) -> tuple[int, int, int, dict[int, tuple[int, int]]]:
    """Members at the end, new ones, their revenue to date, and per cohort (the index of the
    registration month) its size and revenue. One scan of the customers."""
    cohort = _bucket(Customer.registered_at, months).label("cohort")
    stmt = (select(cohort, func.count(), _count_if(Customer.registered_at >= start),
                   _total(Customer.total_spent))
            .where(Customer.registered_at.is_not(None), Customer.registered_at < end)
            .group_by(cohort))
    members = new = revenue = 0
    cohorts: dict[int, tuple[int, int]] = {}
    for index, count, fresh, spent in (await uow.session.execute(stmt)).all():
        members, new, revenue = members + int(count), new + int(fresh), revenue + int(spent)
        if index >= 0:
            cohorts[int(index)] = (int(count), int(spent))
    return members, new, revenue, cohorts


async def _purchases(uow: UnitOfWork, start: datetime, end: datetime,
                     customer_days: int) -> dict[str, int]:
    """The period's purchases and buyers, the active members and the customers at the start
    and at the end: one pass over the purchases of the span they need, per customer."""
    span = timedelta(days=customer_days)
    since = min(start - span, end - 90 * DAY)
    p = Purchase

    def within(first: datetime, until: datetime) -> ColumnElement:
        return func.max(case((and_(p.occurred_at >= first, p.occurred_at < until, COUNTED), 1),
                             else_=0))

    in_period = and_(p.occurred_at >= start, p.occurred_at < end)
    per = (select(p.customer_id.label("customer_id"),
                  _count_if(and_(in_period, COUNTED)).label("n"),
                  _total(case((in_period, NET), else_=0)).label("revenue"),
                  within(start - span, start).label("at_start"),
                  within(end - span, end).label("at_end"),
                  within(end - 30 * DAY, end).label("a30"),
                  within(end - 90 * DAY, end).label("a90"))
           .where(p.occurred_at >= since, p.occurred_at < end)
           .group_by(p.customer_id)
           .subquery())
    before = Purchase.__table__.alias("before")
    earlier = exists().where(before.c.customer_id == per.c.customer_id,
                             before.c.occurred_at < start,
                             before.c.amount > before.c.refunded_amount)
    member = and_(Customer.registered_at.is_not(None), Customer.registered_at < end)
    was_member = and_(Customer.registered_at.is_not(None), Customer.registered_at < start)
    buyer = and_(member, per.c.n > 0)
    at_start = and_(was_member, per.c.at_start == 1)
    at_end = and_(member, per.c.at_end == 1)
    stmt = (select(_total(per.c.n), _total(per.c.revenue), _count_if(buyer),
                   _count_if(and_(buyer, case((per.c.n >= 2, true()), else_=earlier))),
                   _count_if(and_(member, per.c.a30 == 1)), _count_if(and_(member, per.c.a90 == 1)),
                   _count_if(at_start), _count_if(at_end), _count_if(and_(at_start, at_end)))
            .select_from(per)
            .outerjoin(Customer, Customer.id == per.c.customer_id))
    row = (await uow.session.execute(stmt)).one()
    keys = ("purchases", "revenue", "buyers", "repeat_buyers", "active_30", "active_90",
            "at_start", "at_end", "retained")
    return dict(zip(keys, map(int, row), strict=True))


async def _weeks(uow: UnitOfWork, end: datetime) -> tuple[Week, ...]:
    """Revenue and members who bought in each of the 12 seven-day windows before the end."""
    bounds = [end - 7 * DAY * (WEEKS - i) for i in range(WEEKS + 1)]
    week = _bucket(Purchase.occurred_at, bounds).label("week")
    stmt = (select(week, _total(NET),
                   func.count(func.distinct(case((COUNTED, Purchase.customer_id)))))
            .where(Purchase.occurred_at >= bounds[0], Purchase.occurred_at < end)
            .group_by(week))
    found = {int(i): (int(revenue), int(buyers))
             for i, revenue, buyers in (await uow.session.execute(stmt)).all()}
    return tuple(Week(bounds[i], *found.get(i, (0, 0))) for i in range(WEEKS))


async def _cohort_buying(uow: UnitOfWork, end: datetime,
                         months: list[datetime]) -> dict[tuple[int, int], int]:
    """{(registration month, purchase month): members of that cohort who bought then}."""
    first = months[0]
    bought = _bucket(Purchase.occurred_at, months).label("month")
    pairs = (select(Purchase.customer_id.label("customer_id"), bought)
             .where(Purchase.occurred_at >= first, Purchase.occurred_at < end,
                    Purchase.customer_id.is_not(None), COUNTED)
             .group_by(Purchase.customer_id, bought)
             .subquery())
    cohort = _bucket(Customer.registered_at, months).label("cohort")
    stmt = (select(cohort, pairs.c.month, func.count())
            .select_from(pairs)
            .join(Customer, Customer.id == pairs.c.customer_id)
            .where(Customer.registered_at >= first, Customer.registered_at < end)
            .group_by(cohort, pairs.c.month))
    return {(int(c), int(m)): int(n) for c, m, n in (await uow.session.execute(stmt)).all()}


async def _points(uow: UnitOfWork, start: datetime, end: datetime, now: datetime) -> Points:
    op = PointOperation
    expiry = op.kind == "expire"
    stmt = (select(_total(case((and_(op.amount > 0, ~expiry), op.amount), else_=0)),
                   _total(case((and_(op.amount < 0, ~expiry), -op.amount), else_=0)),
                   _total(case((expiry, -op.amount), else_=0)))
            .where(op.created_at >= start, op.created_at < end))
    issued, spent, expired = map(int, (await uow.session.execute(stmt)).one())
    outstanding = await uow.session.scalar(
        select(_total(PointLot.remaining)).where(PointLot.remaining > 0, PointLot.expires_at > now))
    return Points(issued, spent, expired, int(outstanding or 0))


def cohort_months(end: datetime, tz: tzinfo, count: int = COHORT_MONTHS) -> list[datetime]:
    """count + 1 shop-local month starts: the last ``count`` months up to the end's month."""
    last = (end - timedelta(microseconds=1)).astimezone(tz)
    return [month_start(last.year, last.month - count + 1 + i, tz) for i in range(count + 1)]


async def gather(uow: UnitOfWork, start: datetime, end: datetime, now: datetime, tz: tzinfo,
                 customer_days: int, spend: dict[str, float],
                 spend_end: datetime | None = None) -> Stats:
    """Every figure of the period [start, end). ``spend_end``: where the period's retention
    spend stops (a calendar month still running: its own end, not now)."""
    bind = uow.session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        # these scans are short: compiling them (JIT) costs more than it saves; this
        # transaction only
        await uow.session.execute(text("SET LOCAL jit = off"))
    months = cohort_months(end, tz)
    members, new, lifetime, sizes = await _members(uow, start, end, months)
    bought = await _purchases(uow, start, end, customer_days)
    buying = await _cohort_buying(uow, end, months)
    cohorts = []
    for index, first in enumerate(months[:-1]):
        size, revenue = sizes.get(index, (0, 0))
        since = tuple(buying.get((index, index + k), 0) for k in range(COHORT_MONTHS - index))
        cohorts.append(Cohort(first.date(), size, revenue, since))
    report = await trigger_report(uow, start, end)
    recipients = _sum_groups([stats.recipients for stats in report])
    holdout = _sum_groups([stats.holdout for stats in report])
    return Stats(
        start=start, end=end, members=members, new_members=new,
        active_30=bought["active_30"], active_90=bought["active_90"],
        purchases=bought["purchases"], revenue=bought["revenue"], buyers=bought["buyers"],
        repeat_buyers=bought["repeat_buyers"], customers_at_start=bought["at_start"],
        customers_at_end=bought["at_end"], retained=bought["retained"],
        retention_spend=retention_spend(spend, start, spend_end or end, tz),
        lifetime_revenue=lifetime, points=await _points(uow, start, end, now),
        triggers=(recipients, holdout, sum(stats.sent for stats in report)),
        weeks=await _weeks(uow, end), cohorts=tuple(cohorts))


def _sum_groups(groups: list[Group]) -> Group:
    return Group(*(sum(getattr(g, name) for g in groups)
                   for name in ("size", "came_back", "purchases", "revenue", "points_spent")))
