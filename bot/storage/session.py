"""The session of every unit of work: the one way to the rows the day book counts.

Whatever a service writes through the ORM (a lot and its operation, a purchase, a refund, a
member joining), the session tells the day book of its unit of work at the flush, so no
writer can change those rows without the book knowing: a new writer needs no call to
remember. What the session could not tell the book is refused:

- a bulk ``insert``/``update``/``delete`` statement on purchases or point operations, a
  bulk delete of customers or a bulk change of when they joined, unless the statement says
  the caller keeps the book itself (``execution_options(day_book=COUNTED)``: an erasure,
  which tells the book before it deletes, and the demo, which rebuilds it);
- changing what a recorded purchase or operation was (they are facts; a refund is its own
  row and the purchase's refunded amount), and deleting them or a customer through the ORM;
- a session that writes any of it without a day book (not a unit of work), or that is
  committed with facts the book has not taken in yet (``UnitOfWork.commit`` folds them in
  first).

The same flushes tell which customers' balance or tier changed, for their card in the
phone's wallet (bot/wallet/): when the wallet is on (the session factory's ``info`` has
``WALLET``), every points operation, purchase and refund notes its customer, and so does a
bulk write the book lets through that moves points or purchases to a customer (a merge of
two cards); ``UnitOfWork.commit`` queues the wallet update of those who have a wallet card.
A purchase, a refund, a gift, an expiry, a manual change, an import, a merge: nothing that
changes points can skip this, as nothing can skip the book.

``plain`` runs a statement past all of this, on the session's connection: the ledger's
writes and a new purchase (``Lots.record`` and ``Purchases.add`` then call ``saw_operation``
and ``saw_purchase``, which the flush calls for ORM writes: the book and the wallet are told
in one place either way) and the book's own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, Executable, event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from bot.storage.models import Customer, PointOperation, Purchase

if TYPE_CHECKING:
    from bot.storage.day_book import DayBook

BOOK = "day_book"  # session.info key of the unit of work's book
COUNTED = "counted"  # execution option value: the caller keeps the book for this statement
FACTS = {"purchases", "point_operations"}  # every row of these counts
WALLET = "wallet"  # session.info flag: the wallet is on (bot/app.py sets it on the factory)
WALLET_CHANGED = "wallet_changed"  # session.info: customer id -> when their points last changed
ROW_LOCKS = "row_locks"  # session.info: the customers whose rows this transaction has locked
DUE_AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)  # a change whose moment the session can't tell
FROZEN = {PointOperation: ("customer_id", "kind", "amount", "created_at"),
          Purchase: ("customer_id", "amount", "occurred_at")}


class BookError(RuntimeError):
    """A write that would leave the day book behind."""


class BookedSession(Session):
    """``database.session_factory`` makes its sessions of this class."""


async def plain(session: AsyncSession, stmt: Executable,
                params: dict[str, Any] | Sequence[dict[str, Any]] | None = None
                ) -> CursorResult[*tuple[Any, ...]]:
    """Run a Core statement on the session's transaction as it is: no ORM execution around
    it (no autoflush, no identity map, none of the checks below), a third of the time of
    ``session.execute`` for a small write. A list of ``params``: one statement for all
    (executemany). Whoever writes rows the day book counts this way tells it themselves."""
    connection = await session.connection()
    return await connection.execute(stmt, params)


def _book(session: Session | AsyncSession) -> DayBook:
    book: DayBook | None = session.info.get(BOOK)
    if book is None:
        raise BookError("a purchase, a points operation or a join written outside a unit of "
                        "work: the day book would not know")
    return book


def _changed(obj: object, name: str) -> tuple[Any, Any] | None:
    """(before, after) of an attribute this flush changed, else None."""
    history = inspect(obj).attrs[name].history
    if not history.added and not history.deleted:
        return None
    before = history.deleted[0] if history.deleted else None
    return before, history.added[0] if history.added else None


@event.listens_for(BookedSession, "after_flush")
def _tell_the_book(session: Session, _flush: UOWTransaction) -> None:
    """The new and changed rows the book counts, as this flush wrote them (``new`` and
    ``dirty`` still hold what was flushed, with the ids assigned)."""
    for obj in session.deleted:
        if isinstance(obj, (Customer, Purchase, PointOperation)):
            raise BookError(f"{type(obj).__name__} rows are not deleted through the ORM "
                            "(an erasure goes through Customers.erase)")
    for obj in session.new:
        if isinstance(obj, PointOperation):
            saw_operation(session, obj.customer_id, obj.created_at, obj.kind, obj.amount)
        elif isinstance(obj, Purchase):
            saw_purchase(session, obj)
        elif isinstance(obj, Customer) and obj.registered_at is not None:
            _book(session).saw_join(obj.id)
    for obj in session.dirty:
        for name in FROZEN.get(type(obj), ()):
            if _changed(obj, name) is not None:
                raise BookError(f"{type(obj).__name__}.{name} of a recorded row changed")
        if isinstance(obj, Purchase) and (refunded := _changed(obj, "refunded_amount")):
            _book(session).saw_refund(obj, refunded[0] or 0)
            _wallet_changed(session, obj.customer_id, obj.occurred_at)  # the tier may drop
        elif isinstance(obj, Customer) and (joined := _changed(obj, "registered_at")):
            if joined[0] is not None:
                raise BookError("a member's joining moment changed")
            _book(session).saw_join(obj.id)


def saw_operation(session: Session | AsyncSession, customer_id: int, created_at: datetime,
                  kind: str, amount: int) -> None:
    """A points operation was written: the day book counts it and the customer's wallet card
    follows. The flush calls it for an operation written through the ORM, ``Lots.record``
    for the ledger's plain inserts: either way, both are told in this one place."""
    _book(session).saw_operation(created_at, kind, amount)
    _wallet_changed(session, customer_id, created_at)


def saw_purchase(session: Session | AsyncSession, purchase: Purchase) -> None:
    """A purchase was written (by the flush, or by ``Purchases.add``'s plain insert)."""
    _book(session).saw_purchase(purchase)
    _wallet_changed(session, purchase.customer_id, purchase.occurred_at)


def _wallet_changed(session: Session | AsyncSession, customer_id: int | None,
                    moment: datetime) -> None:
    """Note that the customer's card changed (only while the wallet is on)."""
    if customer_id is None or not session.info.get(WALLET):
        return
    changed: dict[int, datetime] = session.info.setdefault(WALLET_CHANGED, {})
    changed[customer_id] = max(moment, changed.get(customer_id, moment))


@event.listens_for(BookedSession, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if state.execution_options.get(BOOK) == COUNTED:
        if name in FACTS | {"point_lots"} and state.is_update:
            _wallet_changed(state.session, _moved_to(state), DUE_AT_ONCE)
        return
    if name in FACTS or (name == "customers" and (state.is_delete or _sets_joined(state))):
        verb = "insert" if state.is_insert else "update" if state.is_update else "delete"
        raise BookError(f"a bulk {verb} on {name} bypasses the day book; write through the ORM (or keep "
                        "the book yourself and say so with execution_options(day_book=COUNTED))")


def _moved_to(state: ORMExecuteState) -> int | None:
    """The customer a bulk update gives rows to (``.values(customer_id=...)``), if any."""
    values = getattr(state.statement, "_values", None) or {}
    for key, value in values.items():
        if getattr(key, "key", key) == "customer_id":
            moved = getattr(value, "value", value)
            return moved if isinstance(moved, int) else None
    return None


def _sets_joined(state: ORMExecuteState) -> bool:
    values = getattr(state.statement, "_values", None) or {}  # .values(...) of an update
    keys = {getattr(key, "key", key) for key in values}
    parameters = state.parameters
    rows = parameters if isinstance(parameters, list) else [parameters or {}]
    keys.update(key for row in rows for key in row)
    return "registered_at" in keys


@event.listens_for(BookedSession, "before_commit")
def _refuse_unfolded_facts(session: Session) -> None:
    session.flush()  # what is still pending is told to the book now, not after this check
    book = session.info.get(BOOK)
    if book is not None and book.pending:
        raise BookError("committed with facts the day book has not taken in: commit "
                        "through the unit of work")


def row_locks(session: Session | AsyncSession) -> set[int]:
    """The customers whose rows the session's transaction holds locked (Customers.lock);
    empty again when the transaction ends, which ends the locks."""
    locks: set[int] = session.info.setdefault(ROW_LOCKS, set())
    return locks


@event.listens_for(BookedSession, "after_commit")
def _locks_ended(session: Session) -> None:
    session.info.pop(ROW_LOCKS, None)


@event.listens_for(BookedSession, "after_rollback")
def _forget_rolled_back_facts(session: Session) -> None:
    book = session.info.get(BOOK)
    if book is not None:
        book.discard()
    session.info.pop(WALLET_CHANGED, None)
    session.info.pop(ROW_LOCKS, None)
