"""Exports for the owner: customers, and point operations, as CSV or Excel files.

Rows are read in pages of ``PAGE`` by their id (keyset: ``id > the last one``), each page in
a short transaction of its own, and written straight into the file; between pages the
connection goes back to the pool (on SQLite the app's only one), so a cashier's checkout
waits at most for one page, not for the whole export, and a large table is never held in
memory. The price is consistency: the file is not one snapshot. A row changed while the
export runs may show either its old or its new state (a balance, a purchase count), and a
row added meanwhile appears only if its id is past the page being read; but since ids are
stable and the pages follow them, no row is missed or written twice.

What the files look like:

* CSV: UTF-8 with a byte-order mark (Excel then reads Cyrillic right) and ``;`` between
  fields (what Excel expects in Russian and most European locales, where ``,`` is the decimal
  comma); money with the reader's decimal separator; dates as ``YYYY-MM-DD HH:MM`` in the
  shop's time zone.
* Excel: one sheet, written with openpyxl's write-only workbook; numbers and dates as real
  numbers and dates (shop time).
* "Operations" are point operations (earned, spent, expired, adjusted by hand), one row
  each, with the customer's card number; kind and reason are the stored codes (stable to
  filter on). Purchases are not in it.
* Text a person typed (a name, a note) that would start a formula is neutralized: a CSV
  field gets a leading apostrophe, an Excel cell is stored as plain text.
"""

from __future__ import annotations

import asyncio
import csv
import os
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import get_decimal_symbol
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import Select, SQLColumnExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ProgramSettings
from bot.console import audit
from bot.core.i18n import N_, Translator
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.tiers import current_tier, tier_label
from bot.storage.models import Customer, PointLot, PointOperation
from bot.storage.uow import UnitOfWork

PAGE = 5000  # rows read in one transaction
CENTS = Decimal("0.01")
CSV_DELIMITER = ";"
EXCEL_ROWS = 1_048_576  # rows of one Excel sheet, its header included: more go on the next one
ZIP_OVER = 20 * 1024 * 1024  # a larger file is sent zipped (Telegram takes at most 50 MB)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TABLES = ("customers", "operations")
FORMATS = ("csv", "xlsx")
TITLES = {"customers": N_("Customers"), "operations": N_("Point operations")}
Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Typed:
    """A value a person typed: neutralized if it would start a formula."""

    value: str


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]  # msgids, translated when written
    query: Callable[[datetime], Select[*tuple[Any, ...]]]
    key: SQLColumnExpression[int]  # the id the pages follow
    row: Callable[[Any, Translator, ProgramSettings, tzinfo], Row]


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: str
    filename: str
    rows: int


def _local(moment: datetime | None, tz: tzinfo) -> datetime | None:
    """Shop time without the zone (Excel has no time zones)."""
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0) if moment else None


def _birthday(day: int | None, month: int | None, year: int | None) -> str:
    if day is None or month is None:
        return ""
    return f"{day:02d}.{month:02d}" + (f".{year}" if year else "")


def _customers_query(now: datetime) -> Select[*tuple[Any, ...]]:
    # per customer, so a page sums only its own customers' lots
    points = (select(func.sum(PointLot.remaining))
              .where(PointLot.customer_id == Customer.id, PointLot.remaining > 0,
                     PointLot.expires_at > now, PointLot.available_at <= now)
              .scalar_subquery())
    return select(Customer.card_number, Customer.name, Customer.phone, Customer.email,
                  Customer.birth_day, Customer.birth_month, Customer.birth_year,
                  Customer.purchase_count, Customer.total_spent, points.label("points"),
                  Customer.registered_at, Customer.source)


def _customer_row(r: Any, t: Translator, program: ProgramSettings, tz: tzinfo) -> Row:
    tier = current_tier(r.purchase_count, program, r.total_spent)
    spent = (Decimal(r.total_spent) / MINOR_PER_UNIT).quantize(CENTS)
    return (r.card_number, Typed(r.name or ""), r.phone or "", Typed(r.email or ""),
            _birthday(r.birth_day, r.birth_month, r.birth_year), tier_label(tier, t.gettext),
            int(r.points or 0), r.purchase_count, spent, _local(r.registered_at, tz),
            Typed(r.source or ""))


def _operations_query(now: datetime) -> Select[*tuple[Any, ...]]:
    return (select(PointOperation.created_at, Customer.card_number, PointOperation.kind,
                   PointOperation.reason, PointOperation.amount, PointOperation.note)
            .join(Customer, PointOperation.customer_id == Customer.id))


def _operation_row(r: Any, t: Translator, program: ProgramSettings, tz: tzinfo) -> Row:
    return (_local(r.created_at, tz), r.card_number, r.kind, r.reason, r.amount,
            Typed(r.note or ""))


SCHEMAS = {
    "customers": Table(
        (N_("Card number"), N_("Name"), N_("Phone"), N_("E-mail"), N_("Birthday"), N_("Tier"),
         N_("Points available"), N_("Purchases"), N_("Total spent"), N_("Registered"),
         N_("Source")),
        _customers_query, Customer.id, _customer_row),
    "operations": Table(
        (N_("Date"), N_("Card number"), N_("Kind"), N_("Reason"), N_("Points"), N_("Note")),
        _operations_query, PointOperation.id, _operation_row),
}


async def _rows(sessions: async_sessionmaker[AsyncSession], table: Table, now: datetime, t: Translator,
                program: ProgramSettings, tz: tzinfo) -> AsyncIterator[Row]:
    after: int | None = None
    while True:
        records = await _page(sessions, table, now, after)
        for record in records:
            yield table.row(record, t, program, tz)
        if len(records) < PAGE:
            return
        after = records[-1].key
        await asyncio.sleep(0)  # whoever waits for the connection gets it before the next page


async def _page(sessions: async_sessionmaker[AsyncSession], table: Table, now: datetime,
                after: int | None) -> Sequence[Any]:
    """Up to ``PAGE`` rows after id ``after``, read in a transaction of their own (closing
    the session ends it and gives the connection back)."""
    stmt = table.query(now).add_columns(table.key.label("key")).order_by(table.key).limit(PAGE)
    if after is not None:
        stmt = stmt.where(table.key > after)
    async with sessions() as session:
        return (await session.execute(stmt)).all()


def _csv_value(value: Any, decimal: str) -> Any:
    match value:
        case None:
            return ""
        case Typed(text):
            return "'" + text if text.startswith(FORMULA_START) else text
        case datetime():
            return value.strftime("%Y-%m-%d %H:%M")
        case Decimal():
            return format(value, "f").replace(".", decimal)
    return value


async def write_csv(path: str, headers: Sequence[str], rows: AsyncIterator[Row],
                    decimal: str) -> int:
    count = 0
    # a local file, written row by row as the rows come: a thread per row would cost more
    with open(path, "w", encoding="utf-8-sig", newline="") as fp:  # noqa: ASYNC230
        writer = csv.writer(fp, delimiter=CSV_DELIMITER)
        writer.writerow(headers)
        async for row in rows:
            writer.writerow([_csv_value(value, decimal) for value in row])
            count += 1
    return count


async def write_xlsx(path: str, title: str, headers: Sequence[str],
                     rows: AsyncIterator[Row]) -> int:
    workbook = Workbook(write_only=True)
    sheets = 1
    sheet = workbook.create_sheet(title[:31])
    sheet.append(list(headers))
    count = in_sheet = 0

    def cell(value: Any) -> Any:
        if not isinstance(value, Typed):
            return value
        # a character a workbook can't hold (stored before input was cleaned) is left out
        plain = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value.value))
        plain.data_type = "s"  # openpyxl would store "=…" as a formula
        return plain

    async for row in rows:
        if in_sheet == EXCEL_ROWS - 1:  # the sheet is full: the rest on the next one
            sheets += 1
            sheet = workbook.create_sheet(f"{title[:25]} ({sheets})")
            sheet.append(list(headers))
            in_sheet = 0
        sheet.append([cell(value) for value in row])
        count += 1
        in_sheet += 1
    await asyncio.to_thread(workbook.save, path)  # zipping a large sheet takes a while
    return count


async def export(sessions: async_sessionmaker[AsyncSession], table: str, fmt: str, *, now: datetime,
                 t: Translator, program: ProgramSettings, tz: tzinfo,
                 directory: str | None = None) -> ExportFile:
    """Write ``table`` ("customers" or "operations") as ``fmt`` ("csv" or "xlsx") to a new
    file in ``directory`` (the system's temporary one by default); the caller sends it and
    removes it. Reads through sessions of its own, page by page: the caller must not hold
    the connection meanwhile (on SQLite there is one)."""
    schema = SCHEMAS[table]
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    fd, path = tempfile.mkstemp(prefix=f"loyalty-{table}-", suffix=f".{fmt}", dir=directory)
    os.close(fd)
    headers = [t.gettext(header) for header in schema.headers]
    rows = _rows(sessions, schema, now, t, program, tz)
    try:
        if fmt == "csv":
            count = await write_csv(path, headers, rows, get_decimal_symbol(t.babel_locale))
        else:
            count = await write_xlsx(path, t.gettext(TITLES[table]), headers, rows)
    except BaseException:
        os.unlink(path)
        raise
    filename = f"{table}-{_local(now, tz):%Y-%m-%d}.{fmt}"
    if os.path.getsize(path) > ZIP_OVER:  # noqa: ASYNC240 - a stat of a local file
        path = await asyncio.to_thread(_zipped, path, filename)
        filename += ".zip"
    return ExportFile(path, filename, count)


async def audited_export(sessions: async_sessionmaker, table: str, fmt: str,
                         actor_identity_id: int, *, now: datetime, t: Translator,
                         program: ProgramSettings, tz: tzinfo) -> ExportFile:
    """``export``, then its entry in the audit log, in a short transaction of its own (the
    file is written after the admin's event committed); no file is left behind when the
    entry cannot be written."""
    made = await export(sessions, table, fmt, now=now, t=t, program=program, tz=tz)
    try:
        async with UnitOfWork(sessions) as uow:
            await audit.record(uow, actor_identity_id, "export", at=now, table=table,
                               format=fmt, file=made.filename, rows=made.rows)
            await uow.commit()
    except BaseException:
        Path(made.path).unlink(missing_ok=True)  # noqa: ASYNC240 - personal data: no orphan file left
        raise
    return made


def _zipped(path: str, name: str) -> str:
    """The file packed into a zip next to it (the original removed)."""
    packed = path + ".zip"
    try:
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, arcname=name)
    except BaseException:
        os.unlink(packed)
        raise
    finally:
        os.unlink(path)
    return packed
