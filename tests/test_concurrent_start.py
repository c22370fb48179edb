"""Several processes started at the same moment on a fresh PostgreSQL database, as compose or
systemd start them after ``loyalty-bot db upgrade``: two web processes and a worker all come
up and stay up, though each one's start-up writes the same rows (the day book built on the
first start, the installation secret generated when none is configured); the database ends
with one of each. A process never migrates a PostgreSQL database itself: on one not yet
migrated it stops and says to run ``loyalty-bot db upgrade``; two such upgrades at once (two
machines deploying) take turns, and both succeed.

The processes run this checkout's code (``python -m bot.cli``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bot.app import build
from bot.config import Settings
from bot.storage import database
from tests.support.process import BotProcess
from tests.test_roles import LEADING, run_as, serving

START_TIMEOUT = 90.0  # three interpreters importing at once on a shared 2-core machine


async def counts(url: str) -> dict[str, int]:
    engine = database.create_engine(url)
    try:
        async with engine.connect() as connection:
            return {table: await connection.scalar(text(f"SELECT count(*) FROM {table}"))
                    for table in ("stats_book", "app_secrets")}
    finally:
        await engine.dispose()


async def start_together(settings: Settings, workdir: Path,
                         processes: list[BotProcess]) -> list[BotProcess]:
    started = [run_as(role, settings, workdir, name)
               for role, name in (("web", "web-a"), ("web", "web-b"), ("worker", "worker"))]
    for process in started:
        process.timeout = START_TIMEOUT
    processes.extend(started)
    await asyncio.gather(*(process.start() for process in started))
    return started


async def until_serving(process: BotProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while not await serving(process.port):
        assert not process.exited(), process.tail()
        assert loop.time() < deadline, f"/healthz never answered:\n{process.tail()}"
        await asyncio.sleep(0.2)


async def test_three_start_ups_at_once_build_the_day_book_once_and_all_succeed(pg_server):
    for _round in range(3):  # the start-ups interleave at every await: the race shows each time
        url = pg_server.create_database()
        await database.upgrade(url)
        settings = Settings(database={"url": url})  # no secret: each generates one
        built = await asyncio.gather(*(build(settings) for _ in range(3)), return_exceptions=True)
        for application in built:
            if not isinstance(application, BaseException):
                await application.close()
        assert [type(application).__name__ for application in built] == ["Application"] * 3, built
        assert await counts(url) == {"stats_book": 1, "app_secrets": 1}


async def test_two_web_processes_and_a_worker_starting_at_once_on_a_fresh_database_all_serve(
        pg_server, tmp_path: Path, processes: list[BotProcess]):
    url = pg_server.create_database()
    await database.upgrade(url)  # the compose file's one-shot migrate step
    settings = Settings(database={"url": url}, shop={"name": "Coffee Point"})  # no secret
    web_a, web_b, worker = await start_together(settings, tmp_path, processes)
    for web in (web_a, web_b):
        await web.until(lambda web=web: "role web" in web.text(), "the start")
        await until_serving(web)
    await worker.until(lambda: LEADING in worker.text(), "the scheduler")
    await asyncio.sleep(0.5)
    for process in (web_a, web_b, worker):
        assert not process.exited(), process.tail()
        assert "Traceback" not in process.text(), process.tail()
    assert await serving(web_a.port) and await serving(web_b.port)
    assert await counts(url) == {"stats_book": 1, "app_secrets": 1}
    await asyncio.gather(*(process.stop() for process in (web_a, web_b, worker)))


async def test_two_upgrades_at_once_on_a_fresh_database_both_succeed(
        pg_server, tmp_path: Path, processes: list[BotProcess]):
    for round_ in range(2):  # at once, without turns, one of the two failed in every round
        url = pg_server.create_database()
        settings = Settings(database={"url": url})
        upgrades = [BotProcess(settings, tmp_path, ["db", "upgrade"], name=f"upgrade-{round_}-{n}",
                               timeout=START_TIMEOUT) for n in range(2)]
        processes.extend(upgrades)
        await asyncio.gather(*(upgrade.start() for upgrade in upgrades))
        for upgrade in upgrades:
            assert upgrade.process is not None
            assert await asyncio.wait_for(upgrade.process.wait(), START_TIMEOUT) == 0, upgrade.tail()
            assert "database is up to date" in upgrade.text()
        assert await database.schema_is_current(url)


async def test_a_process_on_a_database_not_yet_migrated_says_to_run_db_upgrade(
        pg_database_url: str, tmp_path: Path, processes: list[BotProcess]):
    settings = Settings(database={"url": pg_database_url}, card={"secret": "test-signing-key-0123"})
    web = run_as("web", settings, tmp_path, "web")
    processes.append(web)
    await web.start()
    assert web.process is not None
    assert await asyncio.wait_for(web.process.wait(), 30) != 0
    assert "run `loyalty-bot db upgrade`" in web.text()
