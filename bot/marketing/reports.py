"""Trigger reports: what each automatic trigger did for the sends created in a period, and
whether it brought customers back compared with its holdout.

Both groups are anchored at the moment the customer was picked (the ``trigger_sends`` row's
``created_at``), so recipients and the holdout are compared alike (intent to treat): a
customer "came back" with a purchase after that moment and within the attribution window
(a receipt refunded in full is no purchase, as everywhere else in the figures).
Recipients are the rows that are not held out and queued a message; a row that is neither
(no reachable channel at the time) counts only as eligible. One query per report: the
per-send figures are correlated subqueries, summed per trigger by the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Integer, Interval, SQLColumnExpression, and_, case, exists, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from bot.channels.registry import paid_channels
from bot.storage.models import OutboxMessage, PointOperation, Purchase, TriggerSend
from bot.storage.uow import UnitOfWork

TENTH = Decimal("0.1")
WINDOW_DAYS = 14  # a purchase this many days after a send counts as coming back


@dataclass(frozen=True, slots=True)
class Group:
    """Recipients or the holdout of one trigger."""

    size: int
    came_back: int  # customers (send rows) with a purchase in the window
    purchases: int  # those purchases
    revenue: int  # minor units, net of refunds
    points_spent: int  # points spent on purchases in the window

    @property
    def conversion(self) -> Decimal:
        """Came back, in percent of the group (0 for an empty group)."""
        if not self.size:
            return Decimal(0)
        return (Decimal(100 * self.came_back) / self.size).quantize(TENTH, ROUND_HALF_UP)

    @property
    def average_check(self) -> int:
        return self.revenue // self.purchases if self.purchases else 0


@dataclass(frozen=True, slots=True)
class TriggerStats:
    trigger: str
    eligible: int  # every send row, held out or not
    sent: int  # not held out, a message queued
    held_out: int
    delivered: int  # the message's outbox status is "sent"
    failed: int  # "failed" or "blocked"
    points_given: int
    recipients: Group
    holdout: Group
    paid: int = 0  # delivered through a channel that charges for them (Viber)
    away: int = 0  # kept for a web visitor who has not come back yet ("waiting")

    @property
    def uplift(self) -> Decimal:
        """Recipients' conversion minus the holdout's, in percentage points."""
        return self.recipients.conversion - self.holdout.conversion


def _in_window(moment: SQLColumnExpression[Any], since: SQLColumnExpression[Any], days: int,
               dialect: str) -> ColumnElement[bool]:
    """``since < moment <= since + days``, in SQL the database understands."""
    if dialect == "sqlite":  # datetimes are text there; julianday() compares them as instants
        return and_(func.julianday(moment) > func.julianday(since),
                    func.julianday(moment) <= func.julianday(since) + days)
    return and_(moment > since, moment <= since + literal(timedelta(days=days), Interval()))


async def trigger_report(uow: UnitOfWork, start: datetime, end: datetime,
                         window_days: int = WINDOW_DAYS) -> list[TriggerStats]:
    """Per trigger, the sends created in [start, end), in the order of the trigger names."""
    bind = uow.session.bind
    dialect = bind.dialect.name if bind is not None else "sqlite"
    send = TriggerSend
    bought = and_(Purchase.customer_id == send.customer_id,
                  Purchase.amount > Purchase.refunded_amount,  # a receipt refunded in full: no visit
                  _in_window(Purchase.occurred_at, send.created_at, window_days, dialect))
    spent = and_(PointOperation.customer_id == send.customer_id, PointOperation.kind == "spend",
                 PointOperation.reason == "purchase",
                 _in_window(PointOperation.created_at, send.created_at, window_days, dialect))
    recipient = and_(send.held_out.is_(False), send.outbox_message_id.is_not(None))
    per_send = (
        select(
            send.trigger.label("trigger"),
            case((send.held_out.is_(True), 1), else_=0).label("held_out"),
            case((recipient, 1), else_=0).label("recipient"),
            case((OutboxMessage.status == "sent", 1), else_=0).label("delivered"),
            case((OutboxMessage.status.in_(("failed", "blocked")), 1), else_=0).label("failed"),
            case((OutboxMessage.status == "waiting", 1), else_=0).label("away"),
            case((and_(OutboxMessage.status == "sent",
                       OutboxMessage.channel.in_(paid_channels())), 1),
                 else_=0).label("paid"),
            send.points_given.label("points_given"),
            case((exists().where(bought), 1), else_=0).label("came_back"),
            select(func.count()).where(bought).scalar_subquery().label("purchases"),
            select(func.coalesce(func.sum(Purchase.amount - Purchase.refunded_amount), 0))
            .where(bought).scalar_subquery().label("revenue"),
            select(func.coalesce(func.sum(-PointOperation.amount), 0))
            .where(spent).scalar_subquery().label("spent"),
        )
        .outerjoin(OutboxMessage, OutboxMessage.id == send.outbox_message_id)
        .where(send.created_at >= start, send.created_at < end)
        .subquery())
    s = per_send.c

    def total(column: ColumnElement, when: ColumnElement | None = None) -> ColumnElement:
        value = column if when is None else case((when, column), else_=0)
        return func.coalesce(func.sum(value), 0).cast(Integer)

    def group(when: ColumnElement) -> list[ColumnElement]:
        return [total(literal(1), when), total(s.came_back, when), total(s.purchases, when),
                total(s.revenue, when), total(s.spent, when)]

    stmt = (select(s.trigger, func.count(), total(s.recipient), total(s.held_out),
                   total(s.delivered), total(s.failed), total(s.points_given),
                   *group(s.recipient == 1), *group(s.held_out == 1), total(s.paid), total(s.away))
            .group_by(s.trigger).order_by(s.trigger))
    return [TriggerStats(trigger, int(eligible), int(sent), int(held), int(delivered),
                         int(failed), int(given), Group(*map(int, row[7:12])),
                         Group(*map(int, row[12:17])), int(row[17]), int(row[18]))
            for row in (await uow.session.execute(stmt)).all()
            for trigger, eligible, sent, held, delivered, failed, given in [row[:7]]]
