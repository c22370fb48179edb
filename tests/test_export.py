"""/export for admins: customers and point operations as CSV (UTF-8 with BOM, «;») or Excel,
written to a file the channel sends and removes; headers in the admin's language; audited;
refused to everyone else."""

from __future__ import annotations

import asyncio
import csv
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from bot.app import build
from bot.config import Settings
from bot.console import export
from bot.console.invites import create_invite
from bot.core.replies import Document, Reply
from bot.loyalty.cards import luhn_check_digit
from bot.storage.models import AuditEntry, Customer, Identity, PointOperation
from tests.chat import OWNER, TELEGRAM_LIKE, ChatUser, owner_settings, payloads_of, text_of
from tests.conftest import START

REFUSAL = "Извините, это может сделать только администратор."
CUSTOMER_HEADERS = ["Номер карты", "Имя", "Телефон", "E-mail", "День рождения", "Уровень",
                    "Доступно баллов", "Покупки", "Сумма покупок", "Регистрация", "Источник"]
OPERATION_HEADERS = ["Дата", "Номер карты", "Тип", "Причина", "Баллы", "Комментарий"]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


def card(n: int) -> str:
    body = f"40000000{n:03d}"
    return body + luhn_check_digit(body)


@pytest.fixture
async def shop(app, chat, clock) -> None:  # type: ignore[no-untyped-def]
    """Ivan (signed up in the chat: +100 welcome) and two customers written directly: a
    Cyrillic name with purchases, and a name that would start a formula."""
    await chat("42").sign_up()
    now = clock.now()
    async with app.core.unit_of_work() as uow:
        anna = Customer(card_number=card(1), name="Анна Ёлкина", phone="+79005550011",
                        email="anna@example.com", birth_day=29, birth_month=2,
                        purchase_count=3, total_spent=1500_50, consent_at=now,
                        registered_at=now - timedelta(days=10), created_at=now, source="import")
        tricky = Customer(card_number=card(2), name="=HYPERLINK(\"x\")", consent_at=now,
                          created_at=now)
        uow.session.add_all([anna, tricky])
        await uow.session.flush()
        uow.session.add(PointOperation(customer_id=anna.id, kind="adjust", reason="manual",
                                       amount=-30, note="возврат; «товара»",
                                       created_at=now + timedelta(hours=1)))
        await uow.commit()


@pytest.fixture
def owner(chat) -> ChatUser:  # type: ignore[no-untyped-def]
    return chat(OWNER, name="Olga")


@pytest.fixture(autouse=True)
def exports_in(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Export files go to the test's temporary directory, removed with it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


async def download(person: ChatUser, payload: str) -> tuple[Document, str]:
    replies = await person.send("/export")
    assert payload in payloads_of(replies)
    [document] = await person.press(payload)
    assert isinstance(document, Document) and document.remove_after
    return document, document.path


def read_csv(path: str) -> list[list[str]]:
    with open(path, "rb") as fp:
        assert fp.read(3) == b"\xef\xbb\xbf"  # the BOM Excel needs for UTF-8
    with open(path, encoding="utf-8-sig", newline="") as fp:
        return list(csv.reader(fp, delimiter=";"))


def read_xlsx(path: str) -> list[list[object]]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return [list(row) for row in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()


async def ivan_card(app) -> str:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(
            select(Customer.card_number).where(Customer.name == "Ivan Petrov"))).scalar_one()


async def test_export_offers_four_files(app, owner):
    replies = await owner.send("/export")
    assert payloads_of(replies) == ["ex.file:customers:csv", "ex.file:customers:xlsx",
                                    "ex.file:operations:csv", "ex.file:operations:xlsx"]
    labels = [b.label for r in replies for row in r.buttons  # type: ignore[union-attr]
              for b in row]
    assert labels == ["Клиенты, CSV", "Клиенты, Excel", "Операции с баллами, CSV",
                      "Операции с баллами, Excel"]


async def test_customers_csv(app, shop, owner):
    document, path = await download(owner, "ex.file:customers:csv")
    assert document.filename == "customers-2026-03-02.csv"
    assert document.caption == "Клиенты: 3 строки"
    assert read_csv(path) == [
        CUSTOMER_HEADERS,
        [await ivan_card(app), "Ivan Petrov", "+79001234567", "", "14.03.1990", "Участник",
         "100", "0", "0,00", "2026-03-02 12:00", ""],
        [card(1), "Анна Ёлкина", "+79005550011", "anna@example.com", "29.02", "Серебро",
         "0", "3", "1500,50", "2026-02-20 12:00", "import"],
        [card(2), "'=HYPERLINK(\"x\")", "", "", "", "Участник", "0", "0", "0,00", "", ""],
    ]


async def test_customers_excel(app, shop, owner):
    document, path = await download(owner, "ex.file:customers:xlsx")
    assert document.filename == "customers-2026-03-02.xlsx"
    rows = read_xlsx(path)
    assert rows[0] == CUSTOMER_HEADERS
    assert rows[2] == [card(1), "Анна Ёлкина", "+79005550011", "anna@example.com", "29.02",
                       "Серебро", 0, 3, Decimal("1500.50"), datetime(2026, 2, 20, 12, 0),
                       "import"]
    assert rows[3][1] == "=HYPERLINK(\"x\")"  # kept as text, not a formula
    assert rows[1][:3] == [await ivan_card(app), "Ivan Petrov", "+79001234567"]
    assert len(rows) == 4


async def test_operations_csv(app, shop, owner):
    document, path = await download(owner, "ex.file:operations:csv")
    assert document.caption == "Операции с баллами: 2 строки"
    assert read_csv(path) == [
        OPERATION_HEADERS,
        ["2026-03-02 12:00", await ivan_card(app), "earn", "welcome", "100", ""],
        ["2026-03-02 13:00", card(1), "adjust", "manual", "-30", "возврат; «товара»"],
    ]


async def test_operations_excel_in_english(app, shop, chat):
    owner = chat(OWNER, name="Olga", language="en")
    document, path = await download(owner, "ex.file:operations:xlsx")
    assert document.caption == "Point operations: 2 rows"
    assert read_xlsx(path) == [
        ["Date", "Card number", "Kind", "Reason", "Points", "Note"],
        [datetime(2026, 3, 2, 12, 0), await ivan_card(app), "earn", "welcome", 100, None],
        [datetime(2026, 3, 2, 13, 0), card(1), "adjust", "manual", -30, "возврат; «товара»"],
    ]


async def test_each_export_is_audited(app, shop, owner):
    await download(owner, "ex.file:customers:xlsx")
    async with app.core.unit_of_work() as uow:
        [entry] = (await uow.session.execute(select(AuditEntry))).scalars().all()
        admin = (await uow.session.execute(
            select(Identity.id).where(Identity.external_id == OWNER))).scalar_one()
    assert (entry.action, entry.actor_identity_id, entry.customer_id) == ("export", admin, None)
    assert entry.details == {"table": "customers", "format": "xlsx",
                             "file": "customers-2026-03-02.xlsx", "rows": 3}


async def test_an_empty_table_has_the_header_only(app, owner):
    _, path = await download(owner, "ex.file:operations:csv")
    assert read_csv(path) == [OPERATION_HEADERS]


async def test_many_rows_stream_through(app, owner, clock, monkeypatch):
    """More rows than one fetched batch: every one arrives, in order."""
    monkeypatch.setattr("bot.console.export.PAGE", 7)
    async with app.core.unit_of_work() as uow:
        uow.session.add_all([Customer(card_number=card(n), name=f"Гость {n}",
                                      consent_at=clock.now(), created_at=clock.now())
                             for n in range(30)])
        await uow.commit()
    _, path = await download(owner, "ex.file:customers:xlsx")
    names = [row[1] for row in read_xlsx(path)[1:]]
    assert names == [f"Гость {n}" for n in range(30)]


async def test_a_checkout_goes_through_while_an_export_is_being_written(
        app, owner, chat, clock, monkeypatch):
    """The export reads page by page, each in its own short transaction: a cashier's checkout
    (a write, on SQLite's only connection) is not held up until the whole file is written."""
    monkeypatch.setattr("bot.console.export.PAGE", 7)
    ivan = chat("42")
    await ivan.sign_up()
    async with app.core.unit_of_work() as uow:
        uow.session.add_all([Customer(card_number=card(n), name=f"Гость {n}",
                                      consent_at=clock.now(), created_at=clock.now())
                             for n in range(30)])
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    kate = chat("7", name="Kate")
    await kate.send(f"/start {payload}")

    real_page, between_pages, go_on = export._page, asyncio.Event(), asyncio.Event()

    async def pause_after_the_first_page(*args, **kwargs):  # type: ignore[no-untyped-def]
        records = await real_page(*args, **kwargs)
        if not between_pages.is_set():
            between_pages.set()
            await go_on.wait()
        return records

    monkeypatch.setattr(export, "_page", pause_after_the_first_page)
    exporting = asyncio.create_task(owner.press("ex.file:customers:csv"))
    await asyncio.wait_for(between_pages.wait(), 5)

    await kate.send("/checkout")
    await kate.send(await ivan_card(app))
    draft = await kate.send("1500")
    [earn] = [p for p in payloads_of(draft) if p.startswith("co.earn:")]
    summary = await kate.press(earn)
    [ok] = [p for p in payloads_of(summary) if p.startswith("co.ok:")]
    assert "✅ Записано." in text_of(await asyncio.wait_for(kate.press(ok), 5))
    assert not exporting.done()

    go_on.set()
    [document] = await asyncio.wait_for(exporting, 5)
    assert document.caption == "Клиенты: 31 строка"
    rows = read_csv(document.path)[1:]
    assert sorted(row[0] for row in rows) == sorted([await ivan_card(app)] +
                                                    [card(n) for n in range(30)])
    assert rows[0][7] in ("0", "1")  # Ivan's purchases: read before or after the checkout


async def test_others_are_refused(app, shop, chat):
    customer = chat("42")
    assert text_of(await customer.send("/export")) == REFUSAL
    replies: list[Reply] = await customer.press("ex.file:customers:csv")
    assert text_of(replies) == REFUSAL and not any(isinstance(r, Document) for r in replies)
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(AuditEntry))).first() is None


async def test_an_old_button_with_an_unknown_file(app, owner):
    assert text_of(await owner.press("ex.file:staff:pdf")) == (
        "Эта кнопка устарела. Отправьте /export ещё раз.")


async def test_on_each_database_the_console_finds_adjusts_and_exports(any_db_url, clock):
    """Exporting page by page, ILIKE and the ledger's adjustment on SQLite and on
    PostgreSQL."""
    app = await build(owner_settings(any_db_url), clock)
    try:
        await ChatUser(app.core, TELEGRAM_LIKE, "42", name="Иван Петров").sign_up()
        owner = ChatUser(app.core, TELEGRAM_LIKE, OWNER, name="Olga")
        found = await owner.send("/customer иван")
        assert "👤 Иван Петров" in text_of(found)
        customer_id = payloads_of(found)[0].partition(":")[2]
        await owner.press(f"cu.take:{customer_id}")
        await owner.send("40")
        confirm = payloads_of(await owner.send("a correction"))[0]
        await owner.press(confirm)
        await owner.press(confirm)
        for payload in ("ex.file:operations:csv", "ex.file:customers:xlsx"):
            [document] = await owner.press(payload)
            rows = (read_csv(document.path) if document.path.endswith(".csv")
                    else read_xlsx(document.path))
            if payload.endswith("csv"):
                assert [row[2:] for row in rows[1:]] == [["earn", "welcome", "100", ""],
                                                        ["adjust", "manual", "-40", "a correction"]]
            else:
                assert rows[1][1] == "Иван Петров" and rows[1][6] == 60
    finally:
        await app.close()


async def test_a_full_sheet_goes_on_the_next_one_and_a_large_file_is_zipped(
        app, shop, owner, monkeypatch):
    import zipfile

    monkeypatch.setattr("bot.console.export.EXCEL_ROWS", 3)  # a header and two rows a sheet
    document, path = await download(owner, "ex.file:customers:xlsx")
    workbook = openpyxl.load_workbook(path, read_only=True)
    sheets = [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook]
    workbook.close()
    assert [len(rows) for rows in sheets] == [3, 2]  # three customers: 2 + 1
    assert sheets[1][0] == CUSTOMER_HEADERS and sheets[1][1][1] == "=HYPERLINK(\"x\")"

    monkeypatch.setattr("bot.console.export.ZIP_OVER", 0)
    document, path = await download(owner, "ex.file:customers:csv")
    assert document.filename == "customers-2026-03-02.csv.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["customers-2026-03-02.csv"]
        assert archive.read("customers-2026-03-02.csv").startswith(b"\xef\xbb\xbf")


async def test_a_stored_control_character_does_not_break_the_excel_export(app, tmp_path):
    """Names stored before input was cleaned may hold characters a workbook can't: the file
    is written anyway, without them."""
    async with app.core.unit_of_work() as uow:
        uow.session.add(Customer(card_number=card(1), name="Bad\x01Name", consent_at=START,
                                 created_at=START))
        await uow.commit()
    path = tmp_path / "customers.xlsx"
    async with app.core.unit_of_work() as uow:
        written = await export.write_xlsx(str(path), "Customers", ["name"], _names(uow))
    assert written == 1
    sheet = openpyxl.load_workbook(path).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == ["BadName"]


async def _names(uow):  # type: ignore[no-untyped-def]
    for name in (await uow.session.execute(select(Customer.name))).scalars():
        yield [export.Typed(name)]
