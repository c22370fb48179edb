"""Points: the lots a customer holds, the operations that change them, what each spent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    Text,
    bindparam,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import PointLot, PointOperation, PointSpend
from bot.storage.session import plain, saw_operation


class LotRow(NamedTuple):
    """What a balance shows of a live lot."""

    remaining: int
    available_at: datetime
    expires_at: datetime


class LiveLot(NamedTuple):
    """A lot points can be taken from (``Lots.live_lots``), as read under the customer's lock."""

    id: int
    remaining: int
    available_at: datetime
    expires_at: datetime


class NewOperation(NamedTuple):
    """A points operation to record (``Lots.record``)."""

    customer_id: int
    kind: str
    reason: str
    amount: int  # signed: + earned, - spent or expired
    created_at: datetime
    reference: str | None = None
    note: str | None = None
    purchase_id: int | None = None
    actor_identity_id: int | None = None


class NewLot(NamedTuple):
    """Points earned together (``Lots.add_lots``): all of ``amount`` remains at first."""

    customer_id: int
    operation_id: int
    reason: str
    amount: int
    created_at: datetime
    available_at: datetime
    expires_at: datetime


class OperationRow(NamedTuple):
    """What a history shows of a points operation."""

    id: int
    kind: str
    amount: int
    reason: str
    note: str | None
    created_at: datetime


# The statements every /balance and purchase runs are built once, with the customer and the
# moment as parameters (``customer_id``, ``now``): no statement to build and key per call.
CUSTOMER: BindParameter[Any] = bindparam("customer_id")
NOW: BindParameter[Any] = bindparam("now")


def balance_query() -> Select[int]:
    """The customer's points spendable now: the sum of their live lots available by now."""
    return select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
        *Lots._live(CUSTOMER, NOW, spendable_only=True))


class Lots:
    """The points ledger's rows: lots and the operations that change them.

    The ledger (bot/loyalty/ledger.py) writes them here and only here, with plain
    statements built once (no unit-of-work flush: every purchase writes them), and
    ``record`` tells the day book each operation as it writes it, as the session tells it
    of rows written through the ORM (bot/storage/session.py). Nothing about them waits in
    the session, so the hot reads (a balance, the live lots) are plain statements too."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, operations: Sequence[NewOperation]) -> list[int]:
        """Insert the operations in one statement; their ids, in their order."""
        rows = [operation._asdict() for operation in operations]
        result = await plain(self.session, _RECORD, rows[0] if len(rows) == 1 else rows)
        ids = list(result.scalars())
        for operation in operations:
            saw_operation(self.session, operation.customer_id, operation.created_at,
                          operation.kind, operation.amount)
        return ids

    async def add_lots(self, lots: Sequence[NewLot]) -> None:
        rows = [dict(lot._asdict(), remaining=lot.amount) for lot in lots]
        await plain(self.session, _ADD_LOT, rows[0] if len(rows) == 1 else rows)

    async def take(self, operation_id: int, taken: Sequence[tuple[int, int]]) -> None:
        """The operation takes ``points`` from each (lot id, points): the lots shrink and
        each take is recorded."""
        shrink = [{"lot_id": lot_id, "points": points} for lot_id, points in taken]
        spends = [{"operation_id": operation_id, "lot_id": lot_id, "amount": points}
                  for lot_id, points in taken]
        await plain(self.session, _SHRINK, shrink[0] if len(shrink) == 1 else shrink)
        await plain(self.session, _ADD_SPEND, spends[0] if len(spends) == 1 else spends)

    @staticmethod
    def _live(customer_id: int | BindParameter[Any], now: datetime | BindParameter[Any],
              spendable_only: bool) -> list[ColumnElement[bool]]:
        """Conditions of unexpired lots with points left (and, if asked, spendable now)."""
        conditions = [PointLot.customer_id == customer_id, PointLot.remaining > 0,
                      PointLot.expires_at > now]
        if spendable_only:
            conditions.append(PointLot.available_at <= now)
        return conditions

    async def live_lots(self, customer_id: int, now: datetime, *, spendable_only: bool = False
                        ) -> list[LiveLot]:
        """Unexpired lots with points left, those that expire first first."""
        rows = await plain(self.session, _LIVE_LOTS[spendable_only], {
            "customer_id": customer_id, "now": now})
        return [LiveLot(lot_id, remaining, available_at, expires_at)
                for lot_id, remaining, available_at, expires_at in rows]

    async def available_balance(self, customer_id: int, now: datetime) -> int:
        return int((await plain(
            self.session, _BALANCE, {"customer_id": customer_id, "now": now})).scalar_one())

    async def available_balances(self, customer_ids: Sequence[int], now: datetime,
                                 chunk: int = 5000) -> dict[int, int]:
        """``available_balance`` of many customers at once (those with none are left out)."""
        found: dict[int, int] = {}
        for start in range(0, len(customer_ids), chunk):
            stmt = (select(PointLot.customer_id, func.sum(PointLot.remaining))
                    .where(PointLot.customer_id.in_(customer_ids[start:start + chunk]),
                           PointLot.remaining > 0, PointLot.expires_at > now,
                           PointLot.available_at <= now)
                    .group_by(PointLot.customer_id))
            found.update((customer_id, int(points))
                         for customer_id, points in (await self.session.execute(stmt)).all())
        return found

    async def count_operations(self, customer_id: int, reason: str, since: datetime,
                               reference_prefix: str | None = None) -> int:
        stmt = select(func.count(PointOperation.id)).where(
            PointOperation.customer_id == customer_id, PointOperation.reason == reason,
            PointOperation.created_at >= since)
        if reference_prefix is not None:
            stmt = stmt.where(PointOperation.reference.startswith(reference_prefix, autoescape=True))
        return (await self.session.execute(stmt)).scalar_one()

    async def cashback_lot_ids(self, purchase_id: int) -> set[int]:
        """The lots of a purchase's cashback (not its refund returns or referral bonus)."""
        stmt = (select(PointLot.id).join(PointOperation, PointLot.operation_id == PointOperation.id)
                .where(PointOperation.purchase_id == purchase_id, PointOperation.kind == "earn",
                       PointOperation.reason == "purchase"))
        return set((await self.session.execute(stmt)).scalars())

    async def referral_paid(self, purchase_id: int) -> int | None:
        """The referral bonus this purchase paid its customer (None: it paid none)."""
        stmt = select(PointOperation.amount).where(
            PointOperation.purchase_id == purchase_id, PointOperation.reason == "referral",
            PointOperation.amount > 0)
        return (await self.session.execute(stmt)).scalars().first()

    async def referral_given(self, customer_id: int, reference: str) -> int | None:
        """The referral bonus given to ``customer_id`` under ``reference`` (for a friend)."""
        stmt = select(PointOperation.amount).where(
            PointOperation.customer_id == customer_id, PointOperation.reason == "referral",
            PointOperation.reference == reference, PointOperation.amount > 0)
        return (await self.session.execute(stmt)).scalars().first()

    async def latest_expiry_spent_by(self, purchase_id: int) -> datetime | None:
        """The latest expiry among the lots a purchase's spending took points from."""
        stmt = (select(func.max(PointLot.expires_at))
                .join(PointSpend, PointSpend.lot_id == PointLot.id)
                .join(PointOperation, PointSpend.operation_id == PointOperation.id)
                .where(PointOperation.purchase_id == purchase_id, PointOperation.kind == "spend",
                       PointOperation.reason == "purchase"))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def customers_with_due_lots(self, now: datetime, limit: int) -> Sequence[int]:
        stmt = (select(PointLot.customer_id).where(PointLot.remaining > 0, PointLot.expires_at <= now)
                .distinct().order_by(PointLot.customer_id).limit(limit))
        return (await self.session.execute(stmt)).scalars().all()

    async def burn_due(self, customer_id: int, now: datetime) -> int:
        """Empty the customer's lots whose time has come; the points they held."""
        due = (PointLot.customer_id == customer_id, PointLot.remaining > 0,
               PointLot.expires_at <= now)
        points = int(await self.session.scalar(
            select(func.coalesce(func.sum(PointLot.remaining), 0)).where(*due)) or 0)
        await plain(self.session, update(PointLot).where(*due).values(remaining=0))
        return points

    async def holdings(self, customer_id: int, now: datetime, recent: int
                       ) -> tuple[list[LotRow], list[OperationRow]]:
        """The customer's live lots and their last ``recent`` operations (newest first),
        in one statement (``_HOLDINGS``)."""
        lots: list[LotRow] = []
        history: list[OperationRow] = []
        rows = await plain(
            self.session, _HOLDINGS, {"customer_id": customer_id, "now": now, "recent": recent})
        for row_id, number, first, expires_at, kind, reason, note in rows:
            if row_id is None:
                lots.append(LotRow(number, first, expires_at))
            else:
                history.append(OperationRow(row_id, kind, number, reason, note, first))
        history.sort(key=lambda op: (op.created_at, op.id), reverse=True)
        return lots, history

    async def recent_operations(self, customer_id: int, limit: int) -> Sequence[PointOperation]:
        stmt = (
            select(PointOperation)
            .where(PointOperation.customer_id == customer_id)
            .order_by(PointOperation.created_at.desc(), PointOperation.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def has_operation(self, customer_id: int, reference: str) -> bool:
        """An operation of the customer's is recorded under ``reference`` already."""
        stmt = select(PointOperation.id).where(PointOperation.customer_id == customer_id,
                                               PointOperation.reference == reference).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def earned_by(self, actor_identity_id: int, since: datetime) -> tuple[int, int]:
        """The points earned on purchases ``actor_identity_id`` recorded since ``since``,
        and on how many purchases."""
        points, purchases = (await self.session.execute(
            select(func.coalesce(func.sum(PointOperation.amount), 0),
                   func.count(func.distinct(PointOperation.purchase_id)))
            .where(PointOperation.actor_identity_id == actor_identity_id,
                   PointOperation.kind == "earn", PointOperation.created_at >= since))).one()
        return points, purchases

    async def outstanding(self, now: datetime) -> int:
        """The points all customers hold in unexpired lots (spendable or not yet)."""
        return int(await self.session.scalar(
            select(func.coalesce(func.sum(PointLot.remaining), 0))
            .where(PointLot.remaining > 0, PointLot.expires_at > now)) or 0)


def _holdings() -> CompoundSelect[*tuple[Any, ...]]:
    """A lot's row is (NULL, remaining, available_at, expires_at, NULL, NULL, NULL), one of
    the last operations' (id, amount, created_at, NULL, kind, reason, note)."""
    o = PointOperation
    operations = (select(o.id, o.amount, o.created_at, o.kind, o.reason, o.note)
                  .where(o.customer_id == CUSTOMER)
                  .order_by(o.created_at.desc(), o.id.desc()).limit(bindparam("recent"))
                  .subquery())
    return select(null().label("id"), PointLot.remaining, PointLot.available_at,
                  PointLot.expires_at, literal(None, String).label("kind"),
                  literal(None, String).label("reason"), literal(None, Text).label("note")
                  ).where(*Lots._live(CUSTOMER, NOW, spendable_only=False)).union_all(
        select(operations.c.id, operations.c.amount, operations.c.created_at, null(),
               operations.c.kind, operations.c.reason, operations.c.note))


_BALANCE = balance_query()
_HOLDINGS = _holdings()


def _live_lots(spendable_only: bool) -> Select[int, int, datetime, datetime]:
    """``Lots.live_lots``, built once each way (every purchase that spends reads them)."""
    return (select(PointLot.id, PointLot.remaining, PointLot.available_at, PointLot.expires_at)
            .where(*Lots._live(CUSTOMER, NOW, spendable_only))
            .order_by(PointLot.expires_at, PointLot.id))


_LIVE_LOTS = {spendable: _live_lots(spendable) for spendable in (False, True)}
# the ledger's writes (``Lots.record``, ``add_lots``, ``take``), built once
_RECORD = insert(PointOperation).returning(PointOperation.id, sort_by_parameter_order=True)
_ADD_LOT = insert(PointLot)
_SHRINK = (update(PointLot).where(PointLot.id == bindparam("lot_id"))
           .values(remaining=PointLot.remaining - bindparam("points")))
_ADD_SPEND = insert(PointSpend)
