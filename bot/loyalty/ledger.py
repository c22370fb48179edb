"""The points ledger: points live in lots, each with its own expiry.

Rules that always hold: the balance is the sum of the live lots; it is never negative;
spending takes the lots that expire first; every change is an operation row with a reason,
written in the caller's transaction (the ledger never commits). The rows are written at
once (``uow.lots``: plain statements, no flush to wait for), so a balance read right after a
change counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol

from bot.core.clock import Clock
from bot.storage.repositories.lots import LiveLot, NewLot, NewOperation, OperationRow
from bot.storage.uow import UnitOfWork


class InsufficientPoints(Exception):
    def __init__(self, requested: int, available: int) -> None:
        super().__init__(f"requested {requested} points, {available} available")
        self.requested = requested
        self.available = available


@dataclass(frozen=True, slots=True)
class Grant:
    """Points given to one customer (``Ledger.earn_many``)."""

    customer_id: int
    points: int
    lifetime: timedelta
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Burning:
    """Points that burn on one shop-local day (every lot of that day together)."""

    points: int
    on: date


@dataclass(frozen=True, slots=True)
class BalanceSummary:
    available: int
    pending: int
    next_expiry: Burning | None
    recent: Sequence[OperationRow]


class Burnable(Protocol):
    """A lot as ``burning_days`` reads it (a ``LiveLot`` or a ``LotRow``)."""

    @property
    def remaining(self) -> int: ...
    @property
    def expires_at(self) -> datetime: ...


def spendable_now(hold: timedelta, lifetime: timedelta) -> bool:
    """Whether a lot earned now with this hold and lifetime counts in the balance at once
    (``Lots.available_balance``: available by now and not expired yet)."""
    return hold <= timedelta(0) < lifetime


class Ledger:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def earn(
        self,
        customer_id: int,
        points: int,
        reason: str,
        lifetime: timedelta,
        *,
        reference: str | None = None,
        note: str | None = None,
        hold: timedelta = timedelta(0),
        purchase_id: int | None = None,
        actor: int | None = None,
        kind: str = "earn",
    ) -> int:
        """Add a lot of ``points`` that burns after ``lifetime`` (spendable after ``hold``);
        the operation's id."""
        if points <= 0:
            raise ValueError("points to earn must be positive")
        now = self.clock.now()
        [operation_id] = await self.uow.lots.record([NewOperation(
            customer_id, kind, reason, points, now, reference=reference, note=note,
            purchase_id=purchase_id, actor_identity_id=actor)])
        await self.uow.lots.add_lots([NewLot(customer_id, operation_id, reason, points, now,
                                             available_at=now + hold, expires_at=now + lifetime)])
        return operation_id

    async def earn_many(self, grants: Sequence[Grant], reason: str) -> None:
        """``earn`` for many customers at once (a trigger pass): one operation and one lot
        each, written with two batched inserts instead of two round trips per grant."""
        if any(grant.points <= 0 for grant in grants):
            raise ValueError("points to earn must be positive")
        if not grants:
            return
        now = self.clock.now()
        operation_ids = await self.uow.lots.record([
            NewOperation(g.customer_id, "earn", reason, g.points, now, reference=g.reference)
            for g in grants])
        await self.uow.lots.add_lots([
            NewLot(grant.customer_id, operation_id, reason, grant.points, now,
                   available_at=now, expires_at=now + grant.lifetime)
            for grant, operation_id in zip(grants, operation_ids, strict=True)])

    async def spend(
        self,
        customer_id: int,
        points: int,
        reason: str,
        *,
        reference: str | None = None,
        note: str | None = None,
        purchase_id: int | None = None,
        actor: int | None = None,
        kind: str = "spend",
    ) -> int:
        """Take ``points`` from the lots that expire first; all or nothing. The operation's id."""
        if points <= 0:
            raise ValueError("points to spend must be positive")
        now = self.clock.now()
        await self.uow.customers.lock(customer_id)
        lots = await self.uow.lots.live_lots(customer_id, now, spendable_only=True)
        available = sum(lot.remaining for lot in lots)
        if points > available:
            raise InsufficientPoints(points, available)
        [operation_id] = await self.uow.lots.record([NewOperation(
            customer_id, kind, reason, -points, now, reference=reference, note=note,
            purchase_id=purchase_id, actor_identity_id=actor)])
        await self._take(operation_id, lots, points)
        return operation_id

    async def adjust(
        self,
        customer_id: int,
        points: int,
        *,
        note: str,
        actor: int | None,
        lifetime: timedelta,
        reason: str = "manual",
        reference: str | None = None,
    ) -> int:
        """A change made by hand (an admin's), kind "adjust": ``points`` > 0 adds a lot that
        burns after ``lifetime``; ``points`` < 0 takes them from the spendable lots that
        expire first, all or nothing (``InsufficientPoints``). The operation's id."""
        if points > 0:
            return await self.earn(customer_id, points, reason, lifetime, reference=reference,
                                   note=note, actor=actor, kind="adjust")
        if points < 0:
            return await self.spend(customer_id, -points, reason, reference=reference, note=note,
                                    actor=actor, kind="adjust")
        raise ValueError("an adjustment of zero points")

    async def take_back(
        self,
        customer_id: int,
        points: int,
        reason: str,
        *,
        purchase_id: int | None = None,
        reference: str | None = None,
        actor: int | None = None,
    ) -> int:
        """Withdraw up to ``points`` given earlier (a refunded purchase's cashback): first
        from the lots that purchase created, spent or pending, then from the others; never
        below zero. Returns how many points were actually taken."""
        now = self.clock.now()
        await self.uow.customers.lock(customer_id)
        own = await self.uow.lots.cashback_lot_ids(purchase_id) if purchase_id else set()
        lots = sorted(await self.uow.lots.live_lots(customer_id, now),
                      key=lambda lot: lot.id not in own)  # stable: then by expiry
        taken = min(points, sum(lot.remaining for lot in lots))
        if taken <= 0:
            return 0
        [operation_id] = await self.uow.lots.record([NewOperation(
            customer_id, "spend", reason, -taken, now, reference=reference,
            purchase_id=purchase_id, actor_identity_id=actor)])
        await self._take(operation_id, lots, taken)
        return taken

    async def _take(self, operation_id: int, lots: Sequence[LiveLot], points: int) -> None:
        """Take ``points`` from ``lots`` in their order."""
        taken: list[tuple[int, int]] = []
        left = points
        for lot in lots:
            if left == 0:
                break
            if lot.remaining:
                taken.append((lot.id, min(lot.remaining, left)))
                left -= taken[-1][1]
        await self.uow.lots.take(operation_id, taken)

    async def expire_due(self, limit: int = 1_000) -> int:
        """Burn lots whose time has come: one "expire" operation per customer. Returns the
        points burnt. Balances never count such lots anyway; this records the fact."""
        now = self.clock.now()
        burnt = 0
        for customer_id in await self.uow.lots.customers_with_due_lots(now, limit):
            await self.uow.customers.lock(customer_id)  # a spend in flight finishes first
            points = await self.uow.lots.burn_due(customer_id, now)
            if points:
                await self.uow.lots.record([NewOperation(customer_id, "expire", "expiry", -points,
                                                         now)])
                burnt += points
        return burnt

    async def balance(self, customer_id: int) -> int:
        return await self.uow.lots.available_balance(customer_id, self.clock.now())

    async def summary(self, customer_id: int, recent: int = 10, zone: tzinfo = UTC) -> BalanceSummary:
        """Available and pending points, the next shop-local day (in ``zone``) on which
        points burn with all that burns that day, and the last operations."""
        now = self.clock.now()
        lots, history = await self.uow.lots.holdings(customer_id, now, recent)
        available = sum(lot.remaining for lot in lots if lot.available_at <= now)
        pending = sum(lot.remaining for lot in lots if lot.available_at > now)
        soonest = burning_days(lots, zone)
        return BalanceSummary(
            available=available,
            pending=pending,
            next_expiry=soonest[0] if soonest else None,
            recent=history,
        )


def burning_days(lots: Sequence[Burnable], zone: tzinfo) -> list[Burning]:
    """Live lots by the shop-local day they burn on, soonest first: the points of every lot
    that burns that day summed."""
    by_day: dict[date, int] = {}
    for lot in lots:
        if lot.remaining > 0:
            day = lot.expires_at.astimezone(zone).date()
            by_day[day] = by_day.get(day, 0) + lot.remaining
    return [Burning(points, day) for day, points in sorted(by_day.items())]
