"""Importing an existing customer base (bot/loyalty/importer.py, ``loyalty-bot import``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot import cli
from bot.config import ProgramSettings
from bot.core.clock import FrozenClock
from bot.core.keys import phone_fingerprint
from bot.loyalty.importer import (
    ImportFileError,
    ImportReport,
    decode,
    import_customers,
    parse_csv,
    read_file,
)
from bot.loyalty.ledger import Ledger
from bot.storage import database
from bot.storage.models import Customer, ErasedPhone, Identity, PointLot, PointOperation
from bot.storage.uow import UnitOfWork
from tests.chat import text_of

PROGRAM = ProgramSettings()

GOOD = """phone,name,birthday,balance
+7 900 123-45-67,Anna Smirnova,14.03.1990,250
8 (901) 000-11-22,Boris,29.02,
9020001133,,,0
"""


@pytest.fixture
async def sessions(any_db_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    engine = database.create_engine(any_db_url)
    yield database.session_factory(engine)
    await engine.dispose()


async def run(sessions, clock, text: str, dry_run: bool = False, **kw) -> ImportReport:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return await import_customers(uow, parse_csv(text).rows, clock, PROGRAM, "RU", dry_run, **kw)


async def all_customers(sessions) -> list[Customer]:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return list((await uow.session.execute(select(Customer).order_by(Customer.id))).scalars())


async def balance_of(sessions, clock, customer_id: int) -> int:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions) as uow:
        return await Ledger(uow, clock).balance(customer_id)


def reasons(report: ImportReport) -> dict[int, str]:
    return {row.line: row.reason for row in report.rejected}


async def test_a_good_file_makes_verified_customers_with_opening_balances(sessions, clock):
    report = await run(sessions, clock, GOOD)
    assert (report.rows_read, report.imported, report.rejected, report.points) == (3, 3, [], 250)
    anna, boris, nameless = await all_customers(sessions)
    assert (anna.phone, anna.phone_verified, anna.name) == ("+79001234567", True, "Anna Smirnova")
    assert (anna.birth_day, anna.birth_month, anna.birth_year) == (14, 3, 1990)
    assert (boris.phone, boris.birth_day, boris.birth_month, boris.birth_year) == (
        "+79010001122", 29, 2, None)
    assert (nameless.phone, nameless.name, nameless.birth_day) == ("+79020001133", None, None)
    for customer in (anna, boris, nameless):
        assert customer.source == "import"
        assert customer.consent_at == clock.now() and customer.registered_at is None
        assert len(customer.card_number) == 12 and customer.purchase_count == 0
    assert len({c.card_number for c in (anna, boris, nameless)}) == 3
    assert await balance_of(sessions, clock, anna.id) == 250
    assert await balance_of(sessions, clock, boris.id) == 0  # no lot for an empty balance
    async with UnitOfWork(sessions) as uow:
        lot = (await uow.session.execute(select(PointLot))).scalar_one()
        operation = (await uow.session.execute(select(PointOperation))).scalar_one()
    assert (lot.customer_id, lot.reason, lot.amount) == (anna.id, "import", 250)
    assert lot.expires_at == clock.now() + timedelta(days=PROGRAM.purchase_points_days)
    assert (operation.kind, operation.reason, operation.amount) == ("earn", "import", 250)


async def test_balance_days_sets_the_lifetime_of_opening_balances(sessions, clock):
    await run(sessions, clock, GOOD, balance_days=30)
    async with UnitOfWork(sessions) as uow:
        lot = (await uow.session.execute(select(PointLot))).scalar_one()
    assert lot.expires_at == clock.now() + timedelta(days=30)
    clock.advance(days=30)
    anna = (await all_customers(sessions))[0]
    assert await balance_of(sessions, clock, anna.id) == 0


async def test_duplicates_in_the_file_and_against_the_database_are_rejected(sessions, clock):
    await run(sessions, clock, "phone,name\n+79001234567,Anna\n")
    report = await run(sessions, clock, (
        "phone,name\n"
        "8 900 123 45 67,Anna again\n"       # line 2: Anna is already a customer
        "+79011112233,Boris\n"               # line 3
        "+7 (901) 111-22-33,Boris twice\n"   # line 4: the same phone as line 3
        "+79011112244,Vera\n"))              # line 5
    assert (report.rows_read, report.imported) == (4, 2)
    rejected = reasons(report)
    assert set(rejected) == {2, 4}
    assert "+79001234567 already belongs to customer card" in rejected[2]
    assert rejected[4] == "duplicate phone +79011112233: already on line 3"
    names = [c.name for c in await all_customers(sessions)]
    assert names == ["Anna", "Boris", "Vera"]


async def test_importing_the_same_file_twice_imports_nothing_the_second_time(sessions, clock):
    await run(sessions, clock, GOOD)
    again = await run(sessions, clock, GOOD)
    assert (again.imported, len(again.rejected)) == (0, 3)
    assert len(await all_customers(sessions)) == 3


async def test_bad_phones_birthdays_balances_and_names_are_rejected_with_reasons(sessions, clock):
    report = await run(sessions, clock, (
        "phone,name,birthday,balance\n"
        "12345,Short,,\n"                     # 2
        ",No phone,,\n"                       # 3
        "7,9E+10,,,\n"                        # 4: Excel's scientific notation, split by the comma
        "+79001234501,A,31.02.1990,\n"        # 5
        "+79001234502,B,14.03.2999,\n"        # 6: in the future
        "+79001234503,C,1990-03-14,\n"        # 7
        "+79001234504,D,,-5\n"                # 8
        "+79001234505,E,,12.5\n"              # 9
        "+79001234506,F,,lots\n"              # 10
        "+79001234507,G,,99999999999\n"       # 11
        f"+79001234508,{'N' * 65},,\n"        # 12
        "+79001234509,Good,01.01,1 500\n"))   # 13: a thousands space is fine
    rejected = reasons(report)
    assert (report.rows_read, report.imported) == (12, 1)
    assert rejected[2] == "bad phone '12345'"
    assert rejected[3] == "no phone"
    assert rejected[4] == "bad phone '7'"
    for line in (5, 6, 7):
        assert rejected[line].startswith("bad birthday")
    for line in (8, 9, 10):
        assert rejected[line].startswith("bad balance")
    assert "more than" in rejected[11]
    assert rejected[12] == "name longer than 64 characters"
    (good,) = await all_customers(sessions)
    assert (good.name, good.birth_day, good.birth_month) == ("Good", 1, 1)
    assert await balance_of(sessions, clock, good.id) == 1500


async def test_a_row_rejected_for_its_birthday_still_claims_its_phone(sessions, clock):
    report = await run(sessions, clock, "phone,birthday\n+79001234567,32.01\n+79001234567,01.02\n")
    assert reasons(report)[3] == "duplicate phone +79001234567: already on line 2"
    assert report.imported == 0


async def test_excel_bom_semicolons_and_russian_headers(sessions, clock, tmp_path: Path):
    path = tmp_path / "customers.csv"
    path.write_bytes("\ufeffТелефон;Имя;Дата рождения;Баллы\r\n"
                     "+7 900 123-45-67;Анна;14.03.1990;100\r\n"
                     "89011112233;\"Борис; младший\";;\r\n"
                     ";;;\r\n".encode("utf-8"))
    source = read_file(path)
    assert source.delimiter == ";"
    async with UnitOfWork(sessions) as uow:
        report = await import_customers(uow, source.rows, clock, PROGRAM, "RU", False)
    assert (report.rows_read, report.imported, report.rejected) == (2, 2, [])
    anna, boris = await all_customers(sessions)
    assert (anna.name, anna.birth_year, boris.name) == ("Анна", 1990, "Борис; младший")
    assert await balance_of(sessions, clock, anna.id) == 100


def test_windows_1251_is_read_when_the_file_is_not_utf8():
    assert decode("телефон;имя\n".encode("cp1251")) == "телефон;имя\n"
    assert decode("\ufeffphone\n".encode("utf-8")) == "phone\n"


def test_a_file_without_a_phone_column_is_refused_as_a_whole():
    with pytest.raises(ImportFileError, match="no phone column"):
        parse_csv("name,birthday\nAnna,14.03\n")
    for blank in ("\n\n", ";;;\r\n;;;\r\n"):
        with pytest.raises(ImportFileError, match="empty"):
            parse_csv(blank)


async def test_dry_run_reports_the_same_and_writes_nothing(sessions, clock):
    await run(sessions, clock, "phone\n+79001234567\n")
    text = GOOD + "+79001234567,Dup,,\nnonsense,,,\n"
    dry = await run(sessions, clock, text, dry_run=True)
    assert dry.dry_run and (dry.rows_read, dry.imported, dry.points) == (5, 2, 0)
    assert set(reasons(dry)) == {2, 5, 6}  # line 2 is the customer imported above
    assert len(await all_customers(sessions)) == 1
    async with UnitOfWork(sessions) as uow:
        assert (await uow.session.execute(select(func.count(PointLot.id)))).scalar_one() == 0
    real = await run(sessions, clock, text)
    assert (real.imported, reasons(real)) == (dry.imported, reasons(dry))
    assert len(await all_customers(sessions)) == 3


async def test_a_database_error_writes_nothing_at_all(sessions, clock, monkeypatch):
    calls = 0
    real_earn = Ledger.earn

    async def failing_earn(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return await real_earn(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "earn", failing_earn)
    with pytest.raises(OperationalError):
        await run(sessions, clock, "phone,balance\n+79001234501,10\n+79001234502,20\n+79001234503,30\n")
    assert await all_customers(sessions) == []


async def test_a_phone_whose_owner_deleted_their_data_is_not_imported_again(sessions, clock):
    secret = b"installation-secret-0123456789"
    async with UnitOfWork(sessions) as uow:
        uow.session.add(ErasedPhone(phone_hash=phone_fingerprint(secret, "+79001234567"),
                                    erased_at=clock.now()))
        await uow.commit()
    report = await run(sessions, clock, GOOD, secret=secret)
    assert reasons(report) == {2: "phone +79001234567 belonged to a person who deleted their data"}
    assert report.imported == 2


# --- the command line --------------------------------------------------------------------

def config_file(tmp_path: Path, db_url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n\n[card]\nsecret = "cli-test-secret-0123456789"\n')
    return str(path)


def test_the_command_imports_reports_and_writes_the_rejected_rows(tmp_path, db_url, capsys):
    data = tmp_path / "customers.csv"
    data.write_text(GOOD + "12345,Bad phone,,\n+79001234567,Dup,,\n", encoding="utf-8")
    config = config_file(tmp_path, db_url)

    assert cli.main(["--config", config, "import", str(data), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "rows read: 5" in out and "would be imported: 3" in out and "rejected: 2" in out
    assert "dry run: nothing was written" in out

    assert cli.main(["--config", config, "import", str(data), "--balance-days", "90"]) == 0
    out = capsys.readouterr().out
    assert "imported: 3 (opening balances: 250 points)" in out
    assert "line 5: bad phone '12345'" in out
    assert "line 6: duplicate phone +79001234567: already on line 2" in out
    rejected = tmp_path / "customers.rejected.csv"
    assert f"rejected rows written to {rejected}" in out
    lines = rejected.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "line,reason,phone,name,birthday,balance"
    assert lines[1] == "5,bad phone '12345',12345,Bad phone,,"

    assert cli.main(["--config", config, "import", str(data), "--no-rejected-file"]) == 0
    assert "imported: 0" in capsys.readouterr().out


def test_the_command_reads_the_database_url_from_the_environment(tmp_path, db_url, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config.toml here
    monkeypatch.delenv("LOYALTY_CONFIG", raising=False)
    monkeypatch.setenv("LOYALTY_DATABASE__URL", db_url)
    data = tmp_path / "base.csv"
    data.write_bytes("\ufeffphone;balance\r\n+79001234567;1\r\n".encode())
    assert cli.main(["import", str(data), "--region", "ru"]) == 0
    assert "imported: 1 (opening balances: 1 point)" in capsys.readouterr().out
    assert not (tmp_path / "base.rejected.csv").exists()


def test_the_command_refuses_a_missing_file_a_bad_header_and_a_bad_region(tmp_path, db_url, capsys):
    config = config_file(tmp_path, db_url)
    assert cli.main(["--config", config, "import", str(tmp_path / "nope.csv")]) == 2
    headless = tmp_path / "headless.csv"
    headless.write_text("+79001234567,Anna\n")
    assert cli.main(["--config", config, "import", str(headless)]) == 2
    assert "no phone column" in capsys.readouterr().err
    assert cli.main(["--config", config, "import", str(headless), "--region", "XX"]) == 2
    assert "unknown phone region" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--config", config, "import", str(headless), "--balance-days", "0"])


def test_the_command_reports_a_database_error_and_writes_nothing(tmp_path, db_url, capsys, monkeypatch):
    async def broken(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(Ledger, "earn", broken)
    data = tmp_path / "customers.csv"
    data.write_text(GOOD)
    assert cli.main(["--config", config_file(tmp_path, db_url), "import", str(data)]) == 1
    assert "database error, nothing was written" in capsys.readouterr().err


# --- later, in the chat ------------------------------------------------------------------

async def test_an_imported_customer_who_signs_up_in_the_chat_keeps_the_card_and_points(
        app, chat, db_url, clock: FrozenClock):
    engine = database.create_engine(db_url)
    try:
        await run(database.session_factory(engine), clock, GOOD)
    finally:
        await engine.dispose()
    async with app.core.unit_of_work() as uow:
        anna = await uow.customers.by_verified_phone("+79001234567")
        assert anna is not None
        card, anna_id = anna.card_number, anna.id

    clock.advance(days=3)
    anna_chat = chat("42", name="Anna S")
    await anna_chat.send("/start")
    await anna_chat.press("consent:yes")
    welcome = text_of(await anna_chat.share_contact("+7 900 123 45 67"))
    # the shop knew her name and birthday: nothing more to ask, and the birthday stays as set
    assert "Добро пожаловать в программу, Anna Smirnova!" in welcome

    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(func.count(Customer.id)))).scalar_one() == 3
        identity = (await uow.session.execute(
            select(Identity).where(Identity.external_id == "42"))).scalar_one()
        assert identity.customer_id == anna_id
        anna = await uow.customers.get(anna_id)
        assert anna.card_number == card and anna.registered_at == clock.now()
        assert (anna.birth_day, anna.birth_month, anna.birth_year) == (14, 3, 1990)
        reasons_ = [op.reason for op in await uow.lots.recent_operations(anna_id, 10)]
        balance = await Ledger(uow, clock).balance(anna_id)
    assert sorted(reasons_) == ["import", "welcome"]
    assert balance == 250 + app.settings.program.welcome_bonus
