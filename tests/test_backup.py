"""``loyalty-bot db backup`` and ``db restore`` as an owner runs them: a backup taken while the
till keeps selling is the shop as of one moment — every customer it holds with their whole
balance, the day book in step — and restores into a working program; anything that is not a
backup of this program is refused with nothing touched; PostgreSQL gets its own tools' names."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Application, build
from bot.cli import main
from bot.config import Settings
from bot.storage import database
from tests.conftest import sqlite_url
from tests.till import Till, new_key

HEAD = database.head_revision()


@pytest.fixture
async def till(app: Application) -> AsyncIterator[Till]:
    async with TestClient(TestServer(app.web)) as client:
        yield Till(app, client, await new_key(app))


@pytest.fixture
def command(tmp_path, monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    """``command(url, "db", "backup", path)``: the command line on the database at ``url``
    (safe to call from a thread), and what it printed."""
    monkeypatch.chdir(tmp_path)  # no config.toml here
    monkeypatch.delenv("LOYALTY_CONFIG", raising=False)

    def run(url: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("LOYALTY_DATABASE__URL", url)
        code = main(["--log-level", "WARNING", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def file_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite+aiosqlite:///"))


def revision_of(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def cards_in(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT card_number FROM customers")}


async def customer_who_bought(till: Till, n: int) -> tuple[str, list[int]]:
    """A customer enrolled at the till who then buys twice, spending points the second time;
    their card and balance after each of those three transactions."""
    status, card = await till.enrol(phone=f"+7900{n:07d}", name=f"Customer {n}")
    assert status == 201, card
    number, steps = card["card_number"], [card["balance"]]
    for receipt, amount, spend in ((f"R{n}-1", "1000", 0), (f"R{n}-2", "400", 10)):
        status, body = await till.buy(card=number, amount=amount, receipt_id=receipt,
                                      spend_points=spend)
        assert status == 201, body
        steps.append(body["balance"])
    assert len(set(steps)) == 3  # each step shows in the balance
    return number, steps


async def balances(till: Till, cards: set[str]) -> dict[str, int]:
    """What the till shows for each card."""
    found = {}
    for card in cards:
        status, body = await till.card(card)
        assert status == 200, body
        found[card] = body["balance"]
    return found


async def test_a_backup_taken_while_the_till_sells_restores_the_shop_as_of_one_moment(
        till, db_url, tmp_path, command, clock):
    before = dict([await customer_who_bought(till, n) for n in range(4)])
    sold: dict[str, list[int]] = {}  # customers the till goes on enrolling and selling to
    stop, progress = asyncio.Event(), asyncio.Event()

    async def keep_selling() -> None:
        n = 100
        while not stop.is_set():
            card, steps = await customer_who_bought(till, n)
            sold[card] = steps
            progress.set()
            n += 1

    async def sold_to(count: int) -> None:
        async with asyncio.timeout(30):
            while len(sold) < count:
                progress.clear()
                await progress.wait()

    selling = asyncio.create_task(keep_selling())
    await sold_to(2)
    backup = tmp_path / "backups" / "nightly.db"
    backup.parent.mkdir()
    code, out, _ = await asyncio.to_thread(command, db_url, "db", "backup", str(backup))
    assert code == 0
    assert out == f"backed up {file_of(db_url)} (schema revision {HEAD}) to {backup}\n"
    done_by_then = len(sold)
    await sold_to(done_by_then + 2)  # the till goes on selling
    stop.set()
    await selling
    shown = await balances(till, set(before) | set(sold))
    assert shown == {card: steps[-1] for card, steps in (before | sold).items()}

    restored_url = sqlite_url(tmp_path / "restored.db")
    code, out, _ = await asyncio.to_thread(command, restored_url, "db", "restore", str(backup))
    assert (code, out) == (0, (f"restored {tmp_path / 'restored.db'} from {backup} "
                              f"(schema revision {HEAD})\n"))
    code, out, _ = await asyncio.to_thread(command, restored_url, "stats", "check")
    assert code == 0 and out.startswith("the day book holds")

    restored = cards_in(tmp_path / "restored.db")
    assert set(before) <= restored <= set(before) | set(sold)
    assert 2 <= len(restored - set(before)) <= done_by_then + 1 < len(sold)
    order = [card for card in sold if card in restored]
    assert order == list(sold)[:len(order)]  # as of one moment: those first enrolled, ...
    as_of_then = {card: before[card][-1] for card in before} | {
        card: sold[card][-1] for card in order[:-1]}  # ... those done by then as they ended ...
    application = await build(Settings(database={"url": restored_url}), clock)
    try:
        async with TestClient(TestServer(application.web)) as client:
            same_key = Till(application, client, till.key)  # the outlet and its key came back too
            found = await balances(same_key, restored)
    finally:
        await application.close()
    assert {card: found[card] for card in as_of_then} == as_of_then
    assert found[order[-1]] in sold[order[-1]]  # ... the last one between two transactions perhaps


async def test_an_older_backup_is_migrated_and_the_replaced_database_kept(db_url, tmp_path, command):
    older = tmp_path / "older.db"
    older.write_bytes(file_of(db_url).read_bytes())
    await database.downgrade(sqlite_url(older), "-1")
    previous = revision_of(older)
    backup = tmp_path / "older-backup.db"
    assert (await asyncio.to_thread(command, sqlite_url(older), "db", "backup", str(backup)))[0] == 0

    code, out, _ = await asyncio.to_thread(command, db_url, "db", "restore", str(backup))
    kept = tmp_path / "loyalty.db.before-restore"
    assert (code, out.splitlines()) == (0, [
        f"restored {file_of(db_url)} from {backup} (schema revision {previous})",
        f"migrated it to revision {HEAD}",
        f"the database it replaced is kept at {kept}"])
    assert revision_of(file_of(db_url)) == HEAD
    assert revision_of(kept) == HEAD


def test_what_is_no_backup_of_this_program_is_refused_and_nothing_touched(db_url, tmp_path, command):
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    newer = tmp_path / "newer.db"
    newer.write_bytes(file_of(db_url).read_bytes())
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    database_before = file_of(db_url).read_bytes()

    for path, why in ((text, f"{text} is not a SQLite database (file is not a database)"),
                      (foreign, (f"{foreign} is not a database of this program "
                                "(it has no schema revision)")),
                      (newer, (f"{newer} is at schema revision 9999_from_the_future, which this "
                              "version of the program does not know (a backup made by a newer "
                              "version?); restore it with that version")),
                      (tmp_path / "missing.db", f"no backup at {tmp_path / 'missing.db'}")):
        assert command(db_url, "db", "restore", str(path)) == (1, "", f"loyalty-bot: {why}\n")
    assert file_of(db_url).read_bytes() == database_before
    assert not (tmp_path / "loyalty.db.before-restore").exists()


def test_a_backup_needs_a_database_and_a_folder_and_never_makes_one(tmp_path, command):
    nowhere = tmp_path / "nothing-here.db"
    code, _, err = command(sqlite_url(nowhere), "db", "backup", str(tmp_path / "b.db"))
    assert (code, err) == (1, f"loyalty-bot: no database at {nowhere}\n")
    assert not nowhere.exists() and not (tmp_path / "b.db").exists()


def test_a_backup_into_a_missing_folder_a_folder_or_over_the_database_is_refused(db_url, tmp_path, command):
    code, _, err = command(db_url, "db", "backup", str(tmp_path / "no" / "b.db"))
    assert (code, err) == (1, f"loyalty-bot: no folder {tmp_path / 'no'} to write b.db in\n")
    code, _, err = command(db_url, "db", "backup", str(file_of(db_url)))
    assert (code, err) == (1, (f"loyalty-bot: {file_of(db_url)} is the database itself; "
                              "back it up to another file\n"))
    code, _, err = command(db_url, "db", "backup", str(tmp_path))  # a folder, not a file
    assert code == 1 and err.startswith(f"loyalty-bot: can't write {tmp_path}: ")
    assert [path.name for path in tmp_path.iterdir()] == ["loyalty.db"]  # no temporary file left
    assert revision_of(file_of(db_url)) == HEAD


@pytest.mark.parametrize("action", ["backup", "restore"])
def test_postgresql_is_pointed_to_pg_dump_and_pg_restore(action, tmp_path, command):
    url = "postgresql+asyncpg://shop:s3cret@db.example:5432/loyalty"
    dump = tmp_path / "loyalty.dump"
    code, out, err = command(url, "db", action, str(dump))
    assert (code, out) == (1, "")
    server = "postgresql://shop@db.example:5432/loyalty"
    assert f"  pg_dump --format=custom --file={dump} {server}\n" in err
    assert f"  pg_restore --clean --if-exists --no-owner -d {server} {dump}\n" in err
    assert "s3cret" not in err
    assert not (tmp_path / "loyalty.dump").exists()
