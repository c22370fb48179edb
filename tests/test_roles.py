"""``loyalty-bot run --role web|worker`` on one PostgreSQL, as real processes: a web process
serves /healthz and the POS API but runs no scheduler and sends nothing from the outbox; a
worker serves only its probes and metrics, never takes a messenger's inbound updates and
sends the outbox; of two
workers exactly one runs the scheduler, and when it is killed the other takes over within
seconds (``scheduler.takeover_seconds``); a leader whose lock connection breaks learns it;
of two web processes exactly one polls Telegram, and the other takes over the same way.

The processes run this checkout's code (``python -m bot.cli``), not an installed entry point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.app import build
from bot.config import Settings
from bot.core.clock import SystemClock
from bot.storage import database
from bot.storage.leader import SCHEDULER_LOCK, Leadership, in_turn, polling_lock
from tests.fakes.telegram_api import FakeBotAPI, message_update
from tests.support.process import BotProcess
from tests.test_outbox import queue
from tests.test_outbox_crash import statuses
from tests.test_telegram_channel import TOKEN, telegram_settings
from tests.till import PHONE, new_key

TIMEOUT = 20.0  # only reached when something is wrong (a start takes ~3-5 s)
TAKEOVER = 1.0  # scheduler.takeover_seconds of the workers here
METRICS_TOKEN = "scrape-token-0123456789"
LEADING = "scheduler: leading"
WAITING = "scheduler: another process leads"
POLLING = "telegram long polling started"
POLL_WAITING = "telegram long polling: another process runs it"
CHATS = [2001, 2002, 2003]


def run_as(role: str, settings: Settings, workdir: Path, name: str,
           api: FakeBotAPI | None = None) -> BotProcess:
    """``python -m bot.cli run --role <role>`` with the test's database and fake Telegram."""
    env = {"LOYALTY_SCHEDULER__TAKEOVER_SECONDS": str(TAKEOVER),
           "LOYALTY_OUTBOX__POLL_SECONDS": "0.2", "LOYALTY_METRICS__TOKEN": METRICS_TOKEN}
    if api is not None:
        env |= {"LOYALTY_TELEGRAM__TOKEN": TOKEN, "LOYALTY_TELEGRAM__API_BASE": api.base_url}
    return BotProcess(settings, workdir, ["run", "--role", role], name=name, env=env,
                      timeout=TIMEOUT)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


async def lock_is_free(url: str) -> bool:
    """Whether nobody holds the scheduler's lock (taken and given back at once if free)."""
    engine = database.create_engine(url)
    try:
        async with engine.connect() as connection:
            free = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                           {"key": SCHEDULER_LOCK})
            if free:
                await connection.scalar(text("SELECT pg_advisory_unlock(:key)"),
                                        {"key": SCHEDULER_LOCK})
            return bool(free)
    finally:
        await engine.dispose()


async def get(port: int, path: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}{path}") as response:
        return response.status


async def scraped(port: int) -> str:
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as response:
        assert response.status == 200
        return await response.text()


async def only_operations(port: int) -> bool:
    """A worker's port: its probes answer; the web chat and the POS API are not there."""
    return (await get(port, "/healthz") == 200 and await get(port, "/readyz") == 200
            and await get(port, "/") == 404 and await get(port, "/api/v1/cards/1") == 404)


async def serving(port: int) -> bool:
    try:
        return await get(port, "/healthz") == 200
    except aiohttp.ClientConnectionError:
        return False


async def until_serving(process: BotProcess) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not await serving(process.port):
        if process.exited() or asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"/healthz never answered:\n{process.tail()}")
        await asyncio.sleep(0.2)


async def test_a_web_process_serves_and_a_worker_sends(
        pg_settings: Settings, api: FakeBotAPI, tmp_path: Path, processes: list[BotProcess]):
    settings = telegram_settings(pg_settings, api)
    setup = await build(settings, SystemClock())
    await queue(setup, *CHATS)  # due now
    key = await new_key(setup)
    await setup.close()
    url = settings.database.url

    web = run_as("web", settings, tmp_path, "web", api)
    processes.append(web)
    await web.start()
    await until_serving(web)
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{web.port}/api/v1/customers", json={"phone": PHONE, "name": "Anna"},
            headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["card_number"]
    await web.until(lambda: "telegram long polling started" in web.text(), "the polling")
    await asyncio.sleep(1.5)  # several outbox polls of a worker
    assert api.calls_to("sendMessage") == []
    assert set((await statuses(url)).values()) == {"pending"}
    assert "role web" in web.text()
    assert LEADING not in web.text() and "Scheduler started" not in web.text()
    assert await lock_is_free(url)
    await web.stop()

    polled = {method: len(api.calls_to(method)) for method in ("getUpdates", "deleteWebhook",
                                                                  "setWebhook", "getMe")}
    worker = run_as("worker", settings, tmp_path, "worker", api)
    processes.append(worker)
    await worker.start()
    await worker.until(lambda: len(api.calls_to("sendMessage")) >= len(CHATS), "the outbox sent")
    assert sorted(int(call.params["chat_id"]) for call in api.calls_to("sendMessage")) == CHATS
    await worker.until(lambda: LEADING in worker.text(), "the scheduler")
    assert "role worker" in worker.text()
    assert await only_operations(worker.port)  # no web chat, webhooks or POS API
    assert f'loyalty_outbox_sent_total{{channel="telegram"}} {len(CHATS)}.0' in await scraped(worker.port)
    assert not await lock_is_free(url)
    assert {method: len(api.calls_to(method)) for method in polled} == polled  # no inbound
    await worker.stop()
    assert set((await statuses(url)).values()) == {"sent"}


async def test_of_two_workers_one_leads_the_scheduler_and_the_other_takes_over(
        pg_settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    url = pg_settings.database.url
    first = run_as("worker", pg_settings, tmp_path, "first")
    second = run_as("worker", pg_settings, tmp_path, "second")
    processes += [first, second]
    await first.start()
    await first.until(lambda: LEADING in first.text(), "the first worker leading")
    await second.start()
    await second.until(lambda: WAITING in second.text(), "the second worker waiting")
    await asyncio.sleep(3 * TAKEOVER)  # it tried again, several times, in vain
    assert LEADING not in second.text() and "Scheduler started" not in second.text()
    assert first.text().count(LEADING) == 1
    assert not await lock_is_free(url)

    await first.kill()  # SIGKILL: PostgreSQL releases the lock as its connection closes
    took = await second.until(lambda: LEADING in second.text(), "the takeover")
    assert took < TAKEOVER + 2.0, took
    assert "Scheduler started" in second.text()  # the jobs run in the second worker now
    assert not await lock_is_free(url)
    await second.stop()
    assert await lock_is_free(url)  # a graceful stop gives the lock back


async def test_of_two_web_processes_one_polls_telegram_and_the_other_takes_over(
        pg_settings: Settings, api: FakeBotAPI, tmp_path: Path, processes: list[BotProcess]):
    first, second = (run_as("web", pg_settings, tmp_path, name, api) for name in ("first", "second"))
    for process in (first, second):  # its calls reach the fake under /<name>: they tell who polls
        process.env["LOYALTY_TELEGRAM__API_BASE"] = f"{api.base_url}/{process.name}"
    processes += [first, second]
    await first.start()
    await first.until(lambda: POLLING in first.text(), "the first polling")
    await second.start()
    await second.until(lambda: POLL_WAITING in second.text(), "the second waiting")
    api.push_update(message_update(1, 3001, "/start"))
    [hello] = await api.wait_for("sendMessage", 1)
    assert hello.params["text"].startswith("Здравствуйте") and hello.via == "first"
    await asyncio.sleep(3 * TAKEOVER)  # the second tried again, several times, in vain
    assert POLLING not in second.text()
    assert {call.via for call in api.calls_to("getUpdates")} == {"first"}

    await first.kill()  # SIGKILL: PostgreSQL releases its polling lock as its connection closes
    took = await second.until(lambda: POLLING in second.text(), "the takeover")
    assert took < TAKEOVER + 2.0, took
    api.push_update(message_update(2, 3002, "/start"))
    replies = await api.wait_for("sendMessage", 2)
    assert [call.via for call in replies] == ["first", "second"]
    assert len({call.params["chat_id"] for call in replies}) == 2  # each person answered once
    await second.stop()


async def test_a_worker_on_sqlite_runs_but_warns_that_sqlite_serves_one_process(
        settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    worker = run_as("worker", settings, tmp_path, "sqlite")
    processes.append(worker)
    await worker.start()
    await worker.until(lambda: LEADING in worker.text(), "the scheduler (no lock on SQLite)")
    assert "WARNING" in worker.text() and "SQLite serves one process" in worker.text()
    assert WAITING not in worker.text()
    assert await only_operations(worker.port)
    await worker.stop()


async def test_a_stop_during_start_up_is_a_clean_stop_not_a_kill(
        settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    """A service manager may stop a process that is still starting (migrations, the first
    pass): SIGTERM then must take the graceful way out, not the default kill."""
    worker = run_as("worker", settings, tmp_path, "starting")
    processes.append(worker)
    await worker.start()
    await worker.until(lambda: "loyalty-bot: role worker" in worker.text(), "the first line")
    await worker.stop()  # exit code 0, not -15


async def test_a_leader_whose_connection_breaks_learns_it_and_another_takes_the_lock(
        pg_settings: Settings):
    url = pg_settings.database.url
    leader, other = Leadership(url, retry_seconds=0.2), Leadership(url, retry_seconds=0.2)
    try:
        assert await leader.try_acquire()
        assert not await other.try_acquire()
        engine = database.create_engine(url)
        try:
            async with engine.begin() as connection:  # the leader's backend is cut off
                ended = await connection.scalar(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND granted AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"))
            assert ended
        finally:
            await engine.dispose()
        await asyncio.wait_for(leader.lost(), 2.0)  # it stops its jobs: it no longer leads
        await asyncio.wait_for(other.acquire(), 2.0)
        assert not await leader.try_acquire()
    finally:
        await leader.release()
        await other.release()


async def test_work_in_turn_stops_when_its_lock_is_lost_and_runs_in_one_place_at_a_time(
        pg_settings: Settings):
    """``in_turn`` (the messengers' polling): one runner at a time; the one whose lock's
    connection breaks stops its work at once, and the next turn starts it again."""
    url, key = pg_settings.database.url, polling_lock("test")
    running: list[str] = []
    started: list[str] = []

    def work(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            started.append(name)
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)
        return run

    first = asyncio.create_task(in_turn(url, key, work("first"), what="test", retry_seconds=0.2))
    await asyncio.sleep(0.5)
    second = asyncio.create_task(in_turn(url, key, work("second"), what="test", retry_seconds=0.2))
    try:
        await asyncio.sleep(1.0)
        assert running == ["first"]
        engine = database.create_engine(url)
        try:
            async with engine.begin() as connection:  # the first's lock connection is cut off
                assert await connection.scalar(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objid = :low AND granted"), {"low": key & 0xFFFFFFFF})
        finally:
            await engine.dispose()
        await asyncio.sleep(1.5)
        # the first stopped at once, and one of the two took the next turn (the second, or
        # the first again if it asked first): still one at a time
        assert len(started) == 2 and len(running) == 1, (started, running)
    finally:
        for task in (first, second):
            task.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
    assert running == []
