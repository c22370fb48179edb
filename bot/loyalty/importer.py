"""Importing an existing customer base from a CSV file (``loyalty-bot import``).

A shop usually starts with a list from paper or Excel: phone, name, birthday and an
opening balance. Each row becomes a customer whose phone counts as verified (the shop
vouches for it, as for a phone typed at the till), so when the person later opens the bot
and shares the same phone in a messenger, it is the same account with the same points.

The file: a header row, then one customer a row. Columns (case-insensitive, any order,
unknown ones ignored): ``phone`` (required), ``name``, ``birthday`` (DD.MM.YYYY or DD.MM),
``balance`` (whole points, ≥ 0). The delimiter is ``,`` or ``;`` (read from the header);
the encoding is UTF-8 with or without a BOM, else Windows-1251 (what Excel in Russian
saves as "CSV").

A row is rejected, with its line number and a reason, when its phone is not a valid number,
is already a verified phone of a customer, appeared earlier in the file, or belonged to a
person who deleted their data; or when its birthday, balance or name is not acceptable. All
the other rows are written in one transaction: all of them, or none on a database error.
A dry run checks the same and writes nothing.
"""

from __future__ import annotations

import _csv  # the type of csv.reader()
import csv
import io
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import phonenumbers

from bot.config import ProgramSettings, Settings
from bot.core.clock import Clock, SystemClock
from bot.core.keys import SECRET_NAME, phone_fingerprint
from bot.core.text import without_controls
from bot.loyalty.birthday import parse_birthday
from bot.loyalty.cards import new_card_number
from bot.loyalty.ledger import Ledger
from bot.loyalty.phones import normalize_phone
from bot.loyalty.plain_english import counted
from bot.storage import database
from bot.storage.errors import DatabaseError
from bot.storage.models import Customer
from bot.storage.uow import UnitOfWork

SOURCE = "import"
REASON = "import"  # of the opening-balance lot
MAX_NAME_LENGTH = 64  # as in the sign-up flow and the column
MAX_BALANCE = 10_000_000  # points; more is surely a typo (and overflows nothing)
DELIMITERS = (",", ";", "\t")

# Header names as shops write them (English and Russian), to the column they mean.
COLUMNS = {
    "phone": "phone", "telephone": "phone", "mobile": "phone", "телефон": "phone",
    "name": "name", "имя": "name", "фио": "name",
    "birthday": "birthday", "birth date": "birthday", "date of birth": "birthday",
    "день рождения": "birthday", "дата рождения": "birthday",
    "balance": "balance", "points": "balance", "баланс": "balance", "баллы": "balance",
    "бонусы": "balance",
}
_BALANCE = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+")


class ImportFileError(ValueError):
    """The file as a whole can't be read: no header, no phone column, unknown encoding."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int  # the line number in the file (the header is line 1)
    values: dict[str, str]  # column (phone, name, birthday, balance) → text, stripped
    raw: list[str]  # the cells as read, for the rejected-rows file


@dataclass(frozen=True, slots=True)
class CsvFile:
    header: list[str]
    delimiter: str
    rows: list[CsvRow]


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str
    raw: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ImportReport:
    rows_read: int = 0
    imported: int = 0  # in a dry run: how many would be
    points: int = 0  # opening balances, in total
    rejected: list[Rejected] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report for the operator, plain English."""
        verb = "would be imported" if self.dry_run else "imported"
        out = [f"rows read: {self.rows_read}",
               f"{verb}: {self.imported} (opening balances: {counted(self.points, 'point')})",
               f"rejected: {len(self.rejected)}"]
        out += [f"  line {r.line}: {r.reason}" for r in self.rejected]
        if self.dry_run:
            out.append("dry run: nothing was written")
        return out


# --- reading the file --------------------------------------------------------------------

def decode(data: bytes) -> str:
    """UTF-8 (an Excel BOM is dropped), else Windows-1251."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1251")
    except UnicodeDecodeError as exc:
        raise ImportFileError("the file is neither UTF-8 nor Windows-1251 text") from exc


def sniff_delimiter(header_line: str) -> str:
    """The delimiter the header uses most (a one-column header: a comma)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(text: str) -> CsvFile:
    text = text.removeprefix("\ufeff")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise ImportFileError("the file is empty")
    delimiter = sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    columns: dict[int, str] = {}
    rows: list[CsvRow] = []
    for cells in _cells(reader):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, and Excel's ";;;" rows
        if header is None:
            header = cells
            for index, name in enumerate(cells):
                column = COLUMNS.get(" ".join(name.strip().lower().split()))
                if column and column not in columns.values():
                    columns[index] = column
            if "phone" not in columns.values():
                raise ImportFileError(
                    f"no phone column in the header {cells!r} (expected: phone, name, birthday, balance)")
            continue
        values = {column: cells[index].strip() if index < len(cells) else ""
                  for index, column in columns.items()}
        rows.append(CsvRow(reader.line_num, values, cells))
    if header is None:
        raise ImportFileError("the file is empty")
    return CsvFile(header, delimiter, rows)


def _cells(reader: _csv.Reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: {exc}") from exc


def read_file(path: str | Path) -> CsvFile:
    return parse_csv(decode(Path(path).read_bytes()))


def write_rejected(path: str | Path, source: CsvFile, rejected: Sequence[Rejected]) -> None:
    """The rejected rows as they were, with the line number and the reason in front, in a
    file Excel opens (UTF-8 with a BOM, the source's delimiter) — fix them and import it."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fp:
        writer = csv.writer(fp, delimiter=source.delimiter)
        writer.writerow(["line", "reason", *source.header])
        for row in rejected:
            writer.writerow([row.line, row.reason, *row.raw])


# --- checking and writing ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Good:
    line: int
    phone: str
    name: str | None
    birthday: tuple[int, int, int | None] | None
    balance: int


def _balance(text: str) -> int:
    text = text.strip()
    if not text:
        return 0
    if not _BALANCE.fullmatch(text):
        raise ValueError(f"bad balance {text!r}: expected a whole number of points, 0 or more")
    points = int(re.sub(r"\D", "", text))
    if points > MAX_BALANCE:
        raise ValueError(f"balance {points} is more than {MAX_BALANCE} points")
    return points


def _phone(row: CsvRow, region: str) -> str:
    text = row.values.get("phone", "")
    if not text:
        raise ValueError("no phone")
    phone = normalize_phone(text, region)
    if phone is None:
        raise ValueError(f"bad phone {text!r}")
    return phone


def _check(row: CsvRow, phone: str, today: date) -> _Good:
    """The row's other values, or ValueError with the reason."""
    name = " ".join(without_controls(row.values.get("name", "")).split()) or None
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"name longer than {MAX_NAME_LENGTH} characters")
    birthday = None
    if birthday_text := row.values.get("birthday", ""):
        try:
            parsed = parse_birthday(birthday_text, today)
        except ValueError:
            raise ValueError(f"bad birthday {birthday_text!r}: expected DD.MM.YYYY or DD.MM") from None
        birthday = (parsed.day, parsed.month, parsed.year)
    return _Good(row.line, phone, name, birthday, _balance(row.values.get("balance", "")))


async def erased_phone_key(uow: UnitOfWork, configured: bytes | None) -> bytes | None:
    """The installation secret that keys the hashes of erased phones, without creating it:
    the configured one, else the one the app generated; None when the app never ran (then
    nobody can have erased their data)."""
    if configured:
        return configured
    value = await uow.secrets.get(SECRET_NAME)
    return value.encode() if value is not None else None


async def import_customers(
    uow: UnitOfWork,
    rows: Iterable[CsvRow],
    clock: Clock,
    program: ProgramSettings,
    region: str,
    dry_run: bool,
    *,
    balance_days: int | None = None,
    secret: bytes | None = None,
) -> ImportReport:
    """Check every row, then (unless ``dry_run``) add the good ones and commit, in ``uow``
    (an entered unit of work) as one transaction. Opening balances live ``balance_days``
    (default: as purchase points). With the installation ``secret``, phones whose owners
    deleted their data are refused."""
    now = clock.now()
    report = ImportReport(dry_run=dry_run)
    good: list[_Good] = []
    first_line_of: dict[str, int] = {}
    for row in rows:
        report.rows_read += 1
        try:
            phone = _phone(row, region)
            if phone in first_line_of:  # the first row with a phone claims it, good or not
                raise ValueError(f"duplicate phone {phone}: already on line {first_line_of[phone]}")
            first_line_of[phone] = row.line
            checked = _check(row, phone, now.date())
            if reason := await _conflict(uow, phone, secret):
                raise ValueError(reason)
        except ValueError as exc:
            report.rejected.append(Rejected(row.line, str(exc), row.raw))
            continue
        good.append(checked)
    report.imported = len(good)
    report.points = sum(row.balance for row in good)
    if dry_run:
        return report
    ledger = Ledger(uow, clock)
    lifetime = timedelta(days=balance_days or program.purchase_points_days)
    for member in good:
        day, month, year = member.birthday or (None, None, None)
        customer = await uow.customers.add(
            Customer(phone=member.phone, phone_verified=True, name=member.name, birth_day=day,
                     birth_month=month, birth_year=year, source=SOURCE, consent_at=now,
                     registered_at=None, created_at=now),
            new_card_number,
        )
        if member.balance:
            await ledger.earn(customer.id, member.balance, REASON, lifetime,
                              note=f"opening balance, import line {member.line}")
    await uow.commit()
    return report


async def _conflict(uow: UnitOfWork, phone: str, secret: bytes | None) -> str | None:
    existing = await uow.customers.by_verified_phone(phone)
    if existing is not None:
        return f"phone {phone} already belongs to customer card {existing.card_number}"
    if secret is not None and await uow.customers.was_erased(phone_fingerprint(secret, phone)):
        return f"phone {phone} belonged to a person who deleted their data"
    return None


# --- the command -------------------------------------------------------------------------

def rejected_path(path: str | Path) -> Path:
    """customers.csv → customers.rejected.csv, next to it."""
    return Path(path).with_suffix(".rejected.csv")


async def run_import(
    settings: Settings,
    path: str | Path,
    *,
    dry_run: bool = False,
    region: str | None = None,
    balance_days: int | None = None,
    rejected_file: bool = True,
    clock: Clock | None = None,
) -> int:
    """``loyalty-bot import``: read, check, write (unless a dry run), print the report.
    Exit status: 0 done (rejected rows are reported, not fatal), 1 a database error
    (nothing written), 2 the file or an option can't be used."""
    region = (region or settings.shop.phone_region).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        print(f"loyalty-bot import: unknown phone region {region!r} (e.g. RU, KZ, BY, DE)",
              file=sys.stderr)
        return 2
    try:
        source = read_file(path)
    except (OSError, ImportFileError) as exc:
        print(f"loyalty-bot import: {exc}", file=sys.stderr)
        return 2
    await database.prepare(settings.database.url)
    engine = database.create_engine(settings.database.url, echo=settings.database.echo)
    configured = settings.card.secret.get_secret_value().encode() or None
    try:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            secret = await erased_phone_key(uow, configured)
            report = await import_customers(uow, source.rows, clock or SystemClock(),
                                            settings.program, region, dry_run,
                                            balance_days=balance_days, secret=secret)
    except DatabaseError as exc:
        print(f"loyalty-bot import: database error, nothing was written: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print("\n".join(report.lines()))
    if report.rejected and rejected_file:
        target = rejected_path(path)
        write_rejected(target, source, report.rejected)
        print(f"rejected rows written to {target}")
    return 0
