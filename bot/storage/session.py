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

``plain`` runs a statement past all of this, on the session's connection: the ledger's
writes (``Lots.record`` tells the book each operation itself) and the book's own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _book(session: Session) -> DayBook:
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
            _book(session).saw_operation(obj.created_at, obj.kind, obj.amount)
        elif isinstance(obj, Purchase):
            _book(session).saw_purchase(obj)
        elif isinstance(obj, Customer) and obj.registered_at is not None:
            _book(session).saw_join(obj.id)
    for obj in session.dirty:
        for name in FROZEN.get(type(obj), ()):
            if _changed(obj, name) is not None:
                raise BookError(f"{type(obj).__name__}.{name} of a recorded row changed")
        if isinstance(obj, Purchase) and (refunded := _changed(obj, "refunded_amount")):
            _book(session).saw_refund(obj, refunded[0] or 0)
        elif isinstance(obj, Customer) and (joined := _changed(obj, "registered_at")):
            if joined[0] is not None:
                raise BookError("a member's joining moment changed")
            _book(session).saw_join(obj.id)


@event.listens_for(BookedSession, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.execution_options.get(BOOK) == COUNTED:
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name in FACTS or (name == "customers" and (state.is_delete or _sets_joined(state))):
        verb = "insert" if state.is_insert else "update" if state.is_update else "delete"
        raise BookError(f"a bulk {verb} on {name} bypasses the day book; write through the ORM (or keep "
                        "the book yourself and say so with execution_options(day_book=COUNTED))")


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


@event.listens_for(BookedSession, "after_rollback")
def _forget_rolled_back_facts(session: Session) -> None:
    book = session.info.get(BOOK)
    if book is not None:
        book.discard()
