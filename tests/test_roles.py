"""``loyalty-bot run --role web|worker`` on one PostgreSQL, as real processes: a web process
serves /healthz and the POS API but runs no scheduler and sends nothing from the outbox; a
worker serves only its probes and metrics, never takes a messenger's inbound updates and
sends the outbox; of two
workers exactly one runs the scheduler, and when it is killed the other takes over within
seconds (``scheduler.takeover_seconds``); a leader whose lock connection breaks learns it.

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
from bot.storage.leader import SCHEDULER_LOCK, Leadership
from tests.fakes.telegram_api import FakeBotAPI
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
