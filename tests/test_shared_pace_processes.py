"""Two ``loyalty-bot run --role worker`` processes on one PostgreSQL, with two web processes
alongside, deliver a broadcast to 120 Telegram customers through the fake Bot API: each gets
it exactly once, both workers send, and together they keep to Telegram's 30 a second (the
outbox takes 27 of them, the rest is kept for replies): no one-second window of the calls
the fake received holds more. Two workers each with the limits in its own memory would send
up to twice that."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot.app import Application, build
from bot.config import Settings
from bot.core.clock import FrozenClock
from bot.marketing import broadcasts
from bot.storage.models import Broadcast
from tests.chat import TELEGRAM_LIKE, ChatUser
from tests.fakes.telegram_api import FakeBotAPI
from tests.support.process import BotProcess
from tests.test_outbox_crash import statuses
from tests.test_roles import (  # noqa: F401 - the api fixture
    LEADING,
    POLL_WAITING,
    POLLING,
    WAITING,
    api,
    run_as,
)
from tests.test_shared_pace import busiest_second
from tests.test_telegram_channel import telegram_settings

RECIPIENTS = 120
TEXT = "Winter menu: 20 % off hot drinks this week!"
LIMIT, OUTBOX_SHARE = 30, 27  # Telegram's limit a second; the outbox's 90 % of it
STARTING = 90.0  # four processes starting at once on a busy machine take a while


def launched(role: str, settings: Settings, workdir: Path, name: str, api: FakeBotAPI) -> BotProcess:
    """The process's Telegram calls reach the fake under ``/{name}``: they tell who sent."""
    process = run_as(role, settings, workdir, name, api)
    process.env["LOYALTY_TELEGRAM__API_BASE"] = f"{api.base_url}/{name}"
    return process


async def customers(application: Application, count: int) -> None:
    """Telegram customers who signed up in the chat, ten at a time."""
    async def sign_up(n: int) -> None:
        await ChatUser(application.core, TELEGRAM_LIKE, str(5000 + n), name=f"Guest {n}").sign_up(
            phone=f"+7901{n:07d}")

    for first in range(0, count, 10):
        await asyncio.gather(*(sign_up(n) for n in range(first, min(first + 10, count))))


async def broadcast_to_everyone(application: Application) -> int:
    """The owner's broadcast to all members, confirmed and written to the outbox."""
    now = application.core.services.clock.now()
    async with application.core.unit_of_work() as uow:
        draft = Broadcast(status="draft", text=TEXT, segment="all", created_at=now)
        uow.session.add(draft)
        await uow.session.flush()
        assert await broadcasts.start(uow, draft.id, now, application.settings) == RECIPIENTS
        await uow.commit()
    return await broadcasts.enqueue(application.core, draft.id)


async def test_two_workers_deliver_a_broadcast_once_each_within_one_shared_limit(
        pg_settings: Settings, api: FakeBotAPI, tmp_path: Path, processes: list[BotProcess]):
    settings = telegram_settings(pg_settings, api)
    # in the shop's day (no quiet hours), and long ago for the workers: every copy is due
    setup = await build(settings, FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    try:
        await customers(setup, RECIPIENTS)
        workers = [launched("worker", settings, tmp_path, f"worker{n}", api) for n in (1, 2)]
        webs = [launched("web", settings, tmp_path, f"web{n}", api) for n in (1, 2)]
        processes += [*workers, *webs]
        for process in processes:
            await process.start()
        await workers[0].until(lambda: any(LEADING in w.text() for w in workers)
                               and any(WAITING in w.text() for w in workers), "both workers",
                               timeout=STARTING)
        polling = lambda: [POLLING in w.text() for w in webs]  # noqa: E731
        await webs[0].until(lambda: sorted(polling()) == [False, True]  # one of them polls
                            and any(POLL_WAITING in w.text() for w in webs), "the polling",
                            timeout=STARTING)

        assert await broadcast_to_everyone(setup) == RECIPIENTS
        copies = lambda: [c for c in api.calls_to("sendMessage") if c.params.get("text") == TEXT]  # noqa: E731
        await workers[0].until(lambda: len(copies()) >= RECIPIENTS, "the broadcast delivered",
                               timeout=60)
        await asyncio.sleep(0.5)  # nothing more comes
        for process in processes:
            await process.stop()
    finally:
        await setup.close()

    received = copies()
    assert Counter(str(c.params["chat_id"]) for c in received) == Counter(
        {str(5000 + n): 1 for n in range(RECIPIENTS)})  # everyone, exactly once
    by_worker = Counter(c.via for c in received)
    assert set(by_worker) == {"worker1", "worker2"}, by_worker  # the limit shared, not one idle
    sent = [c.at for c in api.calls_to("sendMessage")]  # the broadcast and anything else queued
    assert busiest_second(sent) <= LIMIT
    times = sorted(c.at for c in received)
    assert times[-1] - times[0] >= (RECIPIENTS - 1) / OUTBOX_SHARE  # the outbox's share only
    assert set((await statuses(settings.database.url)).values()) == {"sent"}
