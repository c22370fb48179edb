"""The day book: running totals behind the owner's figures (bot/console/stats.py), kept in the same
transaction as the writes that change them, so /stats reads a few thousand small rows
instead of every receipt of the year.

What is kept, by shop-local day (models ``StatsDay``, ``StatsGap``, ``StatsCohort``):

- per day: counted receipts and their net revenue (erased customers' receipts included:
  the sale happened), points issued / spent / expired (an erased customer's go with their
  ledger), and the members who joined that day with their net revenue to date;
- per counted purchase of a customer: its day, the day of the same customer's previous
  counted purchase and its number (1, 2, 3 or later). The customers who bought on the
  days [a, b] are then the purchases of those days whose previous purchase is before a;
- per month of joining: the members who bought in each month since.

A write that changes a customer's purchases or membership tells the book what it changed
(a purchase added, a purchase's net before a refund, the customer joining or being
erased); at the commit the book reads the customer as they are, undoes those changes in
memory to get them as they were, and applies the difference of what the two contribute (a
purchase inserted between two others, or refunded in full, changes its neighbours' rows
too, and a diff gets every case right). Receipts and points add their
day's own deltas. All deltas are applied at the commit in one key order, after everything
else the transaction locks, so the rows every checkout touches (today's) never take part
in a deadlock.

Every row is split into shards (``SHARDS``) whose sums are the figure: on PostgreSQL a
transaction adds into the first shard no other running transaction is adding into (an
advisory lock taken without waiting, held to its commit), so concurrent purchases never
queue on today's row lock; one writer alone always gets shard 0. SQLite has one writer
anyway: shard 0. Readers sum over the shards; ``fold`` (the nightly upkeep) moves the
other shards into shard 0 again. On PostgreSQL a commit's rows and the choice of its shard
are one statement (``_add_to_free_shard``): every purchase runs it.

``rebuild`` computes the same from the receipts, the ledger and the customers: the app
calls it at start when the book is missing or the shop's time zone changed, the demo after
filling, ``loyalty-bot stats rebuild`` on demand.
"""

from __future__ import annotations

import functools
import logging
import random
import weakref
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, TextClause, and_, bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import database
from bot.storage.leader import DAY_BOOK_LOCK, take_turns
from bot.storage.models import (
    Base,
    Customer,
    PointOperation,
    Purchase,
    StatsBook,
    StatsCohort,
    StatsDay,
    StatsGap,
)
from bot.storage.session import plain

log = logging.getLogger(__name__)

FIRST_PURCHASE = date(1, 1, 1)  # the "previous day" of a customer's first purchase
LATER = 3  # purchases after the second one share one number
COUNTED = Purchase.amount > Purchase.refunded_amount
NET = Purchase.amount - Purchase.refunded_amount
TABLES = {"days": StatsDay, "gaps": StatsGap, "cohorts": StatsCohort}
KEYS = {"days": ("day",), "gaps": ("day", "previous_day", "nth"), "cohorts": ("cohort", "month")}
ROWS_PER_INSERT = 5_000
SHARDS = 8  # writers that add into the book at once without waiting for each other
SHARD_LOCKS = 0x626F6F6B  # "book": pg_try_advisory_xact_lock(SHARD_LOCKS, shard)
FIRST_FREE = ("SELECT shard FROM generate_series(0, :last) AS shard "
              "WHERE pg_try_advisory_xact_lock(:locks, shard) LIMIT 1")
FREE_SHARD = text(FIRST_FREE)
TAKE_SHARD = text("SELECT pg_advisory_xact_lock(:locks, :shard)::text")
TAKE_ALL_SHARDS = text("SELECT pg_advisory_xact_lock(:locks, shard)::text "
                       "FROM generate_series(0, :last) AS shard ORDER BY shard")
STREAM_ROWS = 20_000

# a customer as the book counts them (every purchase's commit reads it: built once)
STORED = (select(Customer.registered_at, Purchase.id, Purchase.occurred_at, NET)
          .outerjoin(Purchase, and_(Purchase.customer_id == Customer.id, COUNTED))
          .where(Customer.id == bindparam("customer_id")))

BUILT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → the book's zone

# (table, *key, column): a number to add
Totals = Counter[tuple]
Purchases = dict[int, tuple[datetime, int]]  # a customer's counted purchases: id → (moment, net)


def contributions(joined: date | None, purchases: Sequence[tuple[date, int]]) -> Totals:
    """What one customer adds to the book: ``joined`` is the day they became a member (None:
    not one), ``purchases`` their counted purchases (day, net revenue) in time order."""
    totals: Totals = Counter()
    cohort = joined.replace(day=1) if joined else None
    previous: date | None = None
    for number, (day, _net) in enumerate(purchases, 1):
        totals[("gaps", day, previous or FIRST_PURCHASE, min(number, LATER), "purchases")] += 1
        month = day.replace(day=1)
        if cohort is not None and month >= cohort and (previous is None or previous < month):
            totals[("cohorts", cohort, month, "buyers")] += 1
        previous = day
    if joined is not None:
        totals[("days", joined, "joined")] += 1
        totals[("days", joined, "joined_revenue")] += sum(net for _day, net in purchases)
    return totals


@dataclass
class _Undo:
    """How a customer was before this transaction, from how they are at its commit."""

    # purchase id → (its moment, its net before this transaction; 0: not there or not counted)
    nets: Purchases = field(default_factory=dict)
    unjoin: bool = False  # they joined in it
    before: Totals | None = None  # read before they were erased

    def applied(self, joined: datetime | None, purchases: Purchases
                ) -> tuple[datetime | None, Purchases]:
        earlier = dict(purchases)
        for purchase_id, (at, net) in self.nets.items():
            if net > 0:
                earlier[purchase_id] = (at, net)
            else:
                earlier.pop(purchase_id, None)
        return (None if self.unjoin else joined), earlier


def points_columns(kind: str, amount: int) -> tuple[str, int]:
    """The day's column a ledger operation adds to, and how much."""
    if kind == "expire":
        return "points_expired", -amount
    return ("points_issued", amount) if amount > 0 else ("points_spent", -amount)


class DayBook:
    """The book's side of one unit of work. The session tells it what each flush wrote
    (bot/storage/session.py); ``flush`` folds that into the book's rows before the commit."""

    def __init__(self, session: AsyncSession,
                 lock: Callable[[int], Awaitable[object]] | None = None) -> None:
        self._session = session
        self._lock = lock  # the unit of work's customer row lock
        self._zone: tzinfo | None = None
        self._zone_known = False
        self._sales: list[tuple[datetime, int, int]] = []  # (receipt's moment, ±1 counted, revenue)
        self._points: list[tuple[datetime, str, int]] = []  # (moment, kind, amount)
        self._changed: dict[int, _Undo] = {}
        self._deltas: Totals = Counter()

    @property
    def pending(self) -> bool:
        """Facts told and not folded into the rows yet."""
        return bool(self._sales or self._points or self._changed or self._deltas)

    def discard(self) -> None:
        """The transaction was rolled back: its facts never happened."""
        self._sales.clear()
        self._points.clear()
        self._changed.clear()
        self._deltas.clear()

    async def kept(self) -> bool:
        """Whether the book is built (until it is, writes keep nothing: the build counts
        them). Once seen built, its zone is remembered for the engine: it changes only by a
        rebuild at a start."""
        if not self._zone_known:
            engine = self._session.bind.sync_engine if self._session.bind else None
            self._zone = BUILT.get(engine) if engine is not None else None
            if self._zone is None:
                book = await self._session.get(StatsBook, 1)
                self._zone = ZoneInfo(book.timezone) if book is not None else None
                if self._zone is not None and engine is not None:
                    BUILT[engine] = self._zone
            self._zone_known = True
        return self._zone is not None

    def _day(self, moment: datetime) -> date:
        assert self._zone is not None
        return moment.astimezone(self._zone).date()

    # --- what the session tells (synchronously, at each flush) ------------------------------

    def _undo(self, customer_id: int) -> _Undo:
        return self._changed.setdefault(customer_id, _Undo())

    def saw_operation(self, moment: datetime, kind: str, amount: int) -> None:
        self._points.append((moment, kind, amount))

    def saw_purchase(self, purchase: Purchase) -> None:
        net = purchase.amount - purchase.refunded_amount
        self._sales.append((purchase.occurred_at, int(net > 0), net))
        if purchase.customer_id is not None:
            self._undo(purchase.customer_id).nets.setdefault(purchase.id, (purchase.occurred_at, 0))

    def saw_refund(self, purchase: Purchase, refunded_before: int) -> None:
        """The purchase's refunded amount went from ``refunded_before`` to what it is."""
        before = purchase.amount - refunded_before
        after = purchase.amount - purchase.refunded_amount
        self._sales.append((purchase.occurred_at, int(after > 0) - int(before > 0), after - before))
        if purchase.customer_id is not None:
            self._undo(purchase.customer_id).nets.setdefault(purchase.id,
                                                             (purchase.occurred_at, before))

    def saw_join(self, customer_id: int) -> None:
        self._undo(customer_id).unjoin = True

    # --- what a writer tells itself (it needs the rows before they go) ----------------------

    async def erasing(self, customer_id: int) -> None:
        """Call before the customer is deleted with their points: what they contribute, and
        their points operations, are read now."""
        if not await self.kept():
            return
        await self._session.flush()  # what this transaction wrote so far is told and stored
        await self._remember_before(customer_id)
        stmt = (select(PointOperation.created_at, PointOperation.kind, PointOperation.amount)
                .where(PointOperation.customer_id == customer_id))
        for at, kind, amount in await self._session.execute(stmt):
            column, points = points_columns(kind, amount)
            self._deltas[("days", self._day(at), column)] -= points

    async def merging(self, survivor_id: int, merged_id: int) -> None:
        """Call before one customer's purchases move to another and the first is deleted
        (both locked): what the two contributed before this transaction is read now. Their
        receipts and points stay on their days, so nothing else changes."""
        if not await self.kept():
            return
        await self._session.flush()
        for customer_id in sorted((survivor_id, merged_id)):
            await self._remember_before(customer_id)

    async def _remember_before(self, customer_id: int) -> None:
        """What the customer contributed before this transaction (the caller flushed): read
        now, with what this transaction did to them taken back, before their rows go."""
        undo = self._undo(customer_id)
        if undo.before is None:
            undo.before = self._of(*undo.applied(*await self._stored(customer_id)))

    # --- folding it in --------------------------------------------------------------------

    async def _stored(self, customer_id: int) -> tuple[datetime | None, Purchases]:
        """One query: when the customer joined and their counted purchases by id (an erased
        customer: nothing)."""
        # plain: the callers flushed first (``flush``, ``erasing``, ``merging``)
        rows = (await plain(self._session, STORED, {"customer_id": customer_id})).all()
        joined = rows[0][0] if rows else None
        return joined, {pid: (at, int(net)) for _joined, pid, at, net in rows if pid is not None}

    def _of(self, joined: datetime | None, purchases: Purchases) -> Totals:
        ordered = sorted(purchases.items(), key=lambda item: (item[1][0], item[0]))
        return contributions(self._day(joined) if joined else None,
                             [(self._day(at), net) for _pid, (at, net) in ordered])

    async def flush(self) -> None:
        """Fold this transaction's facts into the book's rows (the unit of work calls it
        before committing). A changed customer is read under their row lock, so what is
        read differs from them before this transaction by its own changes alone."""
        await self._session.flush()  # the last writes are told now
        if not await self.kept():
            self.discard()
            return
        deltas, self._deltas = self._deltas, Counter()
        for moment, counted, revenue in self._sales:
            deltas[("days", self._day(moment), "purchases")] += counted
            deltas[("days", self._day(moment), "revenue")] += revenue
        for moment, kind, amount in self._points:
            column, points = points_columns(kind, amount)
            deltas[("days", self._day(moment), column)] += points
        self._sales.clear()
        self._points.clear()
        for customer_id in sorted(self._changed):
            undo = self._changed[customer_id]
            if self._lock is not None and undo.before is None:
                await self._lock(customer_id)
            joined, purchases = await self._stored(customer_id)
            deltas.update(self._of(joined, purchases))
            deltas.subtract(undo.before if undo.before is not None
                            else self._of(*undo.applied(joined, purchases)))
        self._changed.clear()
        if any(deltas.values()):
            await _add_to_free_shard(self._session, deltas)

    # --- the whole book, for the start, the command line and the upkeep --------------------

    async def ensure(self, zone: ZoneInfo, now: datetime) -> bool:
        """``ensure`` in this unit of work."""
        return await ensure(self._session, zone, now)

    async def rebuild(self, zone: ZoneInfo, now: datetime) -> None:
        """``rebuild`` in this unit of work."""
        await rebuild(self._session, zone, now)

    async def repair(self, wrong: Totals) -> None:
        """``repair`` in this unit of work."""
        await repair(self._session, wrong)

    async def fold(self) -> None:
        """``fold`` in this unit of work."""
        await fold(self._session)


def _rows(totals: Totals) -> dict[str, list[dict]]:
    """Totals as rows per table, in key order, without the rows that add nothing."""
    rows: dict[str, dict[tuple, dict]] = defaultdict(dict)
    for (table, *key, column), amount in totals.items():
        if amount:
            row = rows[table].setdefault(tuple(key), dict(zip(KEYS[table], key, strict=True)))
            row[column] = row.get(column, 0) + amount
    return {table: [by_key[key] for key in sorted(by_key)] for table, by_key in rows.items()}


@functools.cache
def _counters(model: type[Base]) -> list[str]:
    return [column.name for column in model.__table__.columns if not column.primary_key]


async def fold(session: AsyncSession) -> None:
    """Move every shard but 0 into shard 0 (the caller commits): the book then has one row
    per key again. It holds every shard meanwhile, so the writers wait for its commit (a
    few small statements, nightly) and nothing they add is lost. PostgreSQL only: SQLite
    only ever writes shard 0."""
    if not _on_postgresql(session):
        return
    await session.execute(TAKE_ALL_SHARDS, {"locks": SHARD_LOCKS, "last": SHARDS - 1})
    for table, model in TABLES.items():
        keys, counters, rows = list(KEYS[table]), _counters(model), model.__table__.c
        moved = (delete(model).where(rows.shard > 0)
                 .returning(*(rows[name] for name in keys + counters)).cte("moved"))
        summed = select(*(moved.c[key] for key in keys),
                        *(func.sum(moved.c[name]) for name in counters),
                        text("0")).group_by(*(moved.c[key] for key in keys))
        stmt = postgresql.insert(model).from_select([*keys, *counters, "shard"], summed)
        stmt = stmt.on_conflict_do_update(
            index_elements=[*keys, "shard"],
            set_={name: getattr(model, name) + stmt.excluded[name] for name in counters})
        await session.execute(stmt)


def _on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _free_shard(session: AsyncSession) -> int:
    """The shard this transaction adds into, held from now to the commit: on PostgreSQL the
    first one no other running transaction holds, or, when all are, one at random, waited
    for (its holder is committing: it waits for nothing this transaction holds); on SQLite 0.
    So one writer at a time adds into a shard, and no writer waits for a row lock."""
    if not _on_postgresql(session):
        return 0
    free = await session.scalar(FREE_SHARD, {"last": SHARDS - 1, "locks": SHARD_LOCKS})
    if free is not None:
        return int(free)
    shard = random.randrange(SHARDS)
    await session.execute(TAKE_SHARD, {"locks": SHARD_LOCKS, "shard": shard})
    return shard


async def _add_to_free_shard(session: AsyncSession, totals: Totals) -> None:
    """``_add`` into ``_free_shard``: on PostgreSQL, when a shard is free, both in one
    statement (``_upsert_into_free_shard``)."""
    if _on_postgresql(session):
        free = {"last": SHARDS - 1, "locks": SHARD_LOCKS, **_arrays(_rows(totals))}
        if (await plain(session, _upsert_into_free_shard(), free)).first() is not None:
            return
    await _add(session, totals, await _free_shard(session))


def _arrays(rows: dict[str, list[dict]]) -> dict[str, list]:
    """The rows of each table as one array per column (``:days_day``, ``:days_revenue``…)."""
    return {f"{table}_{column}": [row.get(column, 0) for row in rows.get(table, [])]
            for table in TABLES for column in (*KEYS[table], *_counters(TABLES[table]))}


@functools.cache
def _upsert_into_free_shard() -> TextClause:
    """PostgreSQL: take the first free shard (as ``_free_shard``) and add each table's rows,
    given as arrays per column (``_arrays``), into it; returns the shard, or no row when
    none was free (then nothing was added)."""
    dialect = postgresql.dialect()
    parts = [f"free AS MATERIALIZED ({FIRST_FREE})"]
    for table, model in TABLES.items():
        keys, counters = list(KEYS[table]), _counters(model)
        columns = [*keys, *counters]
        types = {c.name: c.type.compile(dialect=dialect) for c in model.__table__.columns}
        arrays = ", ".join(f"CAST(:{table}_{c} AS {types[c]}[])" for c in columns)
        added = ", ".join(f"{c} = {model.__tablename__}.{c} + excluded.{c}" for c in counters)
        parts.append(
            f"{table} AS (INSERT INTO {model.__tablename__} ({', '.join(columns)}, shard) "
            f"SELECT given.*, free.shard FROM free, unnest({arrays}) AS given({', '.join(columns)}) "
            f"ON CONFLICT ({', '.join(keys)}, shard) DO UPDATE SET {added})")
    return text(f"WITH {', '.join(parts)} SELECT shard FROM free")


@functools.cache
def _upsert(dialect: str, table: str) -> Any:
    """The statement that adds rows into ``table`` (built once per dialect: every commit
    that keeps the book runs it)."""
    model = TABLES[table]
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
    return stmt.on_conflict_do_update(
        index_elements=[*KEYS[table], "shard"],
        set_={column: getattr(model, column) + stmt.excluded[column]
              for column in _counters(model)})


async def _add(session: AsyncSession, totals: Totals, shard: int = 0) -> None:
    """Add the totals to the book's rows of ``shard`` (insert or add to what is there)."""
    dialect = session.get_bind().dialect.name
    for table, rows in sorted(_rows(totals).items()):
        counters = _counters(TABLES[table])
        for row in rows:
            row["shard"] = shard
            for column in counters:
                row.setdefault(column, 0)
        stmt = _upsert(dialect, table)
        for start in range(0, len(rows), ROWS_PER_INSERT):
            await plain(session, stmt, rows[start:start + ROWS_PER_INSERT])


# --- building it from what is stored -----------------------------------------------------------

async def ensure(session: AsyncSession, zone: ZoneInfo, now: datetime) -> bool:
    """Build the book unless it is there in this time zone; True when it was (re)built.
    Processes starting together take turns (else each would build it, and all but one fail)."""
    await take_turns(session, DAY_BOOK_LOCK)
    book = await session.get(StatsBook, 1)
    if book is not None and book.timezone == zone.key:
        return False
    log.info("building the day book for the console's figures (time zone %s)", zone.key)
    await rebuild(session, zone, now)
    return True


async def rebuild(session: AsyncSession, zone: ZoneInfo, now: datetime) -> None:
    """Compute the whole book from the receipts, the ledger and the customers (the caller
    commits). Memory: the totals (a few rows per day), never a row per customer."""
    for model in (StatsDay, StatsGap, StatsCohort, StatsBook):
        await session.execute(delete(model))
    if session.bind is not None:
        BUILT.pop(session.bind.sync_engine, None)
    await _add(session, await count(session, zone))
    session.add(StatsBook(id=1, timezone=zone.key, built_at=now))
    await session.flush()


async def count(session: AsyncSession, zone: tzinfo) -> Totals:
    """The book as the stored receipts, ledger and customers make it, in memory."""
    totals: Totals = Counter()

    def day(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    def sold(on: date, net: int) -> None:  # a receipt refunded in full adds nothing
        totals[("days", on, "purchases")] += 1
        totals[("days", on, "revenue")] += net

    async for joined, purchases in _customers(session, day):
        totals.update(contributions(joined, purchases))
        for on, net in purchases:
            sold(on, net)
    async for at, net in _stream(session, select(Purchase.occurred_at, NET).where(
            Purchase.customer_id.is_(None), COUNTED)):  # erased customers' receipts
        sold(day(at), int(net))
    async for at, kind, amount in _stream(session, select(
            PointOperation.created_at, PointOperation.kind, PointOperation.amount)):
        column, points = points_columns(kind, amount)
        totals[("days", day(at), column)] += points
    return totals


async def kept_rows(session: AsyncSession) -> Totals:
    """The book's rows as kept, as totals."""
    totals: Totals = Counter()
    for table, model in TABLES.items():
        counters = _counters(model)
        keys = [getattr(model, key) for key in KEYS[table]]
        async for row in _stream(session, select(*keys, *(getattr(model, c) for c in counters))):
            key = tuple(row[:len(keys)])
            for column, value in zip(counters, row[len(keys):], strict=True):
                if value:
                    totals[(table, *key, column)] += int(value)
    return totals


def difference(kept: Totals, counted: Totals) -> Totals:
    """What must be added to the kept book to make it the counted one (nothing: equal)."""
    wrong: Totals = Counter()
    for key in kept.keys() | counted.keys():
        if kept[key] != counted[key]:
            wrong[key] = counted[key] - kept[key]
    return wrong


@dataclass(frozen=True, slots=True)
class Check:
    """The kept book against the one counted from the rows, in one snapshot."""

    built: bool
    zone: str | None
    wrong: Totals  # what the kept book lacks (negative: has too much), by (table, *key, column)
    kept: Totals

    @property
    def holds(self) -> bool:
        return self.built and not self.wrong

    def lines(self, limit: int = 50) -> list[str]:
        """The differences, one per line: where, kept, counted."""
        found = []
        for key in sorted(self.wrong, key=str)[:limit]:
            table, *where, column = key
            place = " ".join(str(part) for part in where)
            found.append(f"{table} {place} {column}: kept {self.kept[key]}, "
                         f"counted {self.kept[key] + self.wrong[key]}")
        if len(self.wrong) > limit:
            found.append(f"… and {len(self.wrong) - limit} more")
        return found


async def check(session: AsyncSession) -> Check:
    """Compare the kept book with the one the stored rows make. Run it in one snapshot (a
    read transaction that sees no other writer's commits: ``database.snapshot``), so that
    writes running meanwhile cannot look like differences."""
    book = await session.get(StatsBook, 1)
    if book is None:
        return Check(False, None, Counter(), Counter())
    kept = await kept_rows(session)
    counted = await count(session, ZoneInfo(book.timezone))
    return Check(True, book.timezone, difference(kept, counted), kept)


async def check_database(url: str) -> Check:
    """``check`` in one snapshot on a connection of its own, which takes no write lock: the
    app goes on writing while the whole book is counted."""
    engine = database.create_reader(url)
    try:
        async with AsyncSession(engine) as session:
            return await check(session)
    finally:
        await engine.dispose()


async def repair(session: AsyncSession, wrong: Totals) -> None:
    """Add what a check found missing. The book is sums, so the difference found in a
    snapshot stays right whatever was written since: each write added its own share."""
    await _add(session, wrong)


async def _stream(session: AsyncSession, stmt: Select[*tuple[Any, ...]]
                  ) -> AsyncIterator[Row[*tuple[Any, ...]]]:
    result = await session.stream(stmt.execution_options(yield_per=STREAM_ROWS))
    async for rows in result.partitions():  # an await per chunk, not per row
        for row in rows:
            yield row


async def _customers(session: AsyncSession, day: Callable[[datetime], date]
                     ) -> AsyncIterator[tuple]:
    """Each customer's (joined day, counted purchases in time order), one at a time."""
    stmt = (select(Customer.id, Customer.registered_at, Purchase.occurred_at, NET)
            .outerjoin(Purchase, and_(Purchase.customer_id == Customer.id, COUNTED))
            .order_by(Customer.id, Purchase.occurred_at, Purchase.id))
    current, joined = None, None
    purchases: list[tuple[date, int]] = []
    async for customer_id, registered_at, at, net in _stream(session, stmt):
        if customer_id != current:
            if current is not None:
                yield joined, purchases
            current, purchases = customer_id, []
            joined = day(registered_at) if registered_at else None
        if at is not None:
            purchases.append((day(at), int(net)))
    if current is not None:
        yield joined, purchases
