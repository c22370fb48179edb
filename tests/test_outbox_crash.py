"""The outbox survives a hard crash: the real ``loyalty-bot run`` in a subprocess is killed
with SIGKILL in the middle of a queue of 200 messages, restarted and killed again; a last
restart (in this process: a third interpreter start would cost ~4 s of imports) sends the rest.

The delivery guarantee it checks is the one in ``bot/delivery/outbox.py``: every message arrives,
and a message is sent again only if it was in flight (claimed as ``sending``, not yet
marked ``sent``) when the process died — so each crash adds at most one copy, and only to
messages of the batch in flight (≤ ``BATCH``), never to one already marked ``sent``.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build
from bot.config import OutboxSettings, Settings
from bot.core.clock import SystemClock
from bot.delivery.outbox import BATCH
from bot.storage import database
from bot.storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeBotAPI
from tests.support.process import BotProcess
from tests.test_outbox import queue
from tests.test_telegram_channel import TOKEN, telegram_settings

CHATS = list(range(1000, 1200))  # 200 distinct recipients, one message each
ANSWER_DELAY = 0.02  # the fake answers sendMessage this late, so sends overlap a kill
PER_SECOND = 100  # the whole queue takes about two seconds
KILL_AFTER = 50  # more sendMessage calls than two batches: a kill lands mid-queue
TIMEOUT = 30.0  # only reached when something is wrong (a start takes ~5 s)
LEASE = 1.0  # claim_lease_seconds: a restart (~5 s) takes back the killed process's claims


class SlowBotAPI(FakeBotAPI):
    """The fake Bot API, answering ``sendMessage`` after a short delay (recorded at once,
    so a call counts as delivered even when the sender dies before reading the answer)."""

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(ANSWER_DELAY)
        return await super()._send_message(params)


@dataclass(frozen=True)
class Crash:
    sends: int  # sendMessage calls the fake had recorded once the process was dead
    in_flight: frozenset[str]  # chats whose message was ``sending`` at that moment
    pending: int


def bot_process(settings: Settings, api: FakeBotAPI, workdir: Path) -> BotProcess:
    """``loyalty-bot run`` in polling mode against the fake API and the test database."""
    return BotProcess(settings, workdir, ["run"], timeout=TIMEOUT, env={
        "LOYALTY_TELEGRAM__TOKEN": TOKEN,
        "LOYALTY_TELEGRAM__API_BASE": api.base_url,
        "LOYALTY_OUTBOX__TELEGRAM_PER_SECOND": str(settings.outbox.telegram_per_second),
        "LOYALTY_OUTBOX__CLAIM_LEASE_SECONDS": str(settings.outbox.claim_lease_seconds),
    })


async def statuses(url: str) -> dict[str, str]:
    """Chat → status of its outbox row, read with a fresh engine (as after a restart)."""
    engine = database.create_engine(url)
    try:
        async with database.session_factory(engine)() as session:
            rows = await session.execute(select(OutboxMessage.external_id, OutboxMessage.status))
            return dict(rows.all())  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def copies(api: FakeBotAPI) -> Counter[str]:
    return Counter(str(call.params["chat_id"]) for call in api.calls_to("sendMessage"))


@pytest.fixture
async def api() -> AsyncIterator[SlowBotAPI]:
    async with SlowBotAPI(token=TOKEN) as server:
        yield server


async def test_a_sigkilled_sender_resends_at_most_what_was_in_flight(
        settings: Settings, api: SlowBotAPI, tmp_path: Path,
        record_property: Callable[[str, object], None]):
    settings = telegram_settings(settings, api).model_copy(
        update={"outbox": OutboxSettings(telegram_per_second=PER_SECOND, claim_lease_seconds=LEASE)})
    setup = await build(settings, SystemClock())
    await queue(setup, *CHATS)  # due now; the sender is not started in this process
    await setup.close()
    url = settings.database.url
    bot = bot_process(settings, api, tmp_path)
    crashes: list[Crash] = []
    try:
        for _ in range(2):  # run, get killed mid-queue; twice
            await bot.start()
            target = len(api.calls_to("sendMessage")) + KILL_AFTER
            await bot.until(lambda target=target: len(api.calls_to("sendMessage")) >= target,
                            f"{KILL_AFTER} more sendMessage calls")
            await bot.kill()
            rows = await statuses(url)  # as the crash left it, before any recovery
            crashes.append(Crash(len(api.calls_to("sendMessage")),
                                 frozenset(c for c, s in rows.items() if s == "sending"),
                                 sum(s == "pending" for s in rows.values())))
            assert crashes[-1].pending > 0, "the kill came too late: nothing left to send"

        await asyncio.sleep(LEASE)  # the dead process's claims run out
        final = await build(settings, SystemClock())
        try:  # the last restart, in this process: what ``start()`` does, in the foreground
            assert await final.outbox.recover() == len(crashes[-1].in_flight)
            await final.outbox.send_due()
        finally:
            await final.close()
    finally:
        await bot.kill()

    received = copies(api)
    duplicated = {chat for chat, n in received.items() if n > 1}
    report = ", ".join(f"crash {i}: {len(c.in_flight)} in flight after {c.sends} sends"
                       for i, c in enumerate(crashes, 1))
    report += f"; {len(duplicated)} chat(s) got a second copy: {sorted(duplicated)}"
    print(f"\n{report}")  # which case it was: shown with -s, and in the JUnit report
    record_property("outbox_crash", report)

    assert set(received) == {str(chat) for chat in CHATS}  # nothing lost
    assert set((await statuses(url)).values()) == {"sent"}
    for crash in crashes:
        assert len(crash.in_flight) <= BATCH
    for chat, n in received.items():  # each crash adds at most one copy, only if in flight
        assert n - 1 <= sum(chat in crash.in_flight for crash in crashes), (chat, n, report)
    assert max(received.values()) <= 2  # the second run finished its first batches before dying
    assert len(duplicated) <= sum(len(crash.in_flight) for crash in crashes)


async def test_sigterm_stops_gracefully_and_nothing_is_sent_twice(
        settings: Settings, api: SlowBotAPI, tmp_path: Path):
    """A service manager's stop is not a crash: the sends in flight are recorded."""
    settings = telegram_settings(settings, api).model_copy(
        update={"outbox": OutboxSettings(telegram_per_second=PER_SECOND, claim_lease_seconds=LEASE)})
    setup = await build(settings, SystemClock())
    await queue(setup, *CHATS)
    await setup.close()
    bot = bot_process(settings, api, tmp_path)
    try:
        await bot.start()
        await bot.until(lambda: len(api.calls_to("sendMessage")) >= KILL_AFTER, "some sends")
        assert bot.process is not None
        bot.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.process.wait(), TIMEOUT) == 0, bot.tail()
        rows = await statuses(settings.database.url)
        assert "sending" not in rows.values()  # every send in flight got its result recorded
        assert sum(s == "sent" for s in rows.values()) == len(api.calls_to("sendMessage"))
        await bot.start()  # and the next start sends the rest, each once
        await bot.until(lambda: len(api.calls_to("sendMessage")) >= len(CHATS), "the rest")
    finally:
        await bot.kill()
    assert max(copies(api).values()) == 1 and len(copies(api)) == len(CHATS)
