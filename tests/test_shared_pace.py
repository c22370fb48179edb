"""The channels' rate limits shared through PostgreSQL (bot/delivery/pace.py): senders in
several processes, each with its own engine, take their turns from the same rows, so
together they keep to one channel's limit (30 a second on Telegram, of which the outbox
uses 90 %) and to one a second per chat; a 429 that one of them meets pauses the others;
replies counted in a web process make the outbox give way. (The real processes, two
workers delivering a broadcast, are in tests/test_shared_pace_processes.py.)"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from bot.app import Application, build
from bot.config import OutboxSettings, Settings
from bot.core.clock import SystemClock
from bot.delivery.outbox import LocalPace, RateLimits
from bot.delivery.pace import Pace, SharedPace, Turn
from bot.storage import database
from bot.storage.database import Engine
from bot.storage.models import OutboxPace
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_outbox import messages, queue
from tests.test_telegram_channel import api, telegram_settings  # noqa: F401 - api is a fixture

OUTBOX_SHARE = 27  # of Telegram's 30 a second, with the default 10 % kept for replies


def busiest_second(times: list[float]) -> int:
    """The most of ``times`` inside any one-second window (sliding)."""
    times, busiest, first = sorted(times), 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


@pytest.fixture
def pg_url(pg_migrated_url: str) -> str:
    return pg_migrated_url


@pytest.fixture
async def engines(pg_url: str) -> AsyncIterator[list[Engine]]:
    """Two processes' engines on one database."""
    made = [database.create_engine(pg_url) for _ in range(2)]
    yield made
    for engine in made:
        await engine.dispose()


def paces(engines: list[Engine], **outbox: float) -> list[SharedPace]:
    settings = OutboxSettings(**outbox)
    return [SharedPace(database.session_factory(engine), settings) for engine in engines]


async def slots(pace: Pace, turns: list[Turn]) -> list[float]:
    """When each turn may go, on this process's monotonic clock."""
    asked = time.monotonic()
    return [asked + wait for wait in await pace.reserve(turns)]


async def test_two_processes_booking_at_once_keep_to_one_channel_limit(engines: list[Engine]):
    """Each books 90 sends to different chats in batches of 15 as fast as it can: together
    they are spaced as one sender at 27 a second, not two at 27 each (which the
    per-process limits of SQLite would give)."""
    first, second = paces(engines)

    async def book(pace: SharedPace, base: int) -> list[float]:
        await pace.reserve([Turn("viber", "warm-up")])  # connected: timed within milliseconds
        booked: list[float] = []
        for batch in range(6):
            chats = range(base + batch * 15, base + batch * 15 + 15)
            booked += await slots(pace, [Turn("telegram", str(chat)) for chat in chats])
        return booked

    times = [t for booked in await asyncio.gather(book(first, 0), book(second, 1000)) for t in booked]
    ordered = sorted(times)
    assert ordered[-1] - ordered[0] >= 179 / OUTBOX_SHARE  # 180 turns, one after the other
    # on the database's clock they are 1.03 / 27 s apart (the first two may be CATCH_UP
    # closer: an idle channel's first turn counts from that long ago); here within a few ms
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) > 1.03 / OUTBOX_SHARE - SharedPace.CATCH_UP - 0.01
    assert sorted(gaps)[1] > 1 / OUTBOX_SHARE - 0.01
    assert busiest_second(times) <= OUTBOX_SHARE + 1  # never the 30 of the whole limit

    alone = [LocalPace(RateLimits(OutboxSettings())) for _ in range(2)]  # each process its own
    local = [t for pace in alone for t in await slots(pace, [Turn("telegram", str(chat))
                                                             for chat in range(60)])]
    assert busiest_second(local) > OUTBOX_SHARE  # what the check above would catch


async def test_one_chat_gets_one_a_second_whoever_sends(engines: list[Engine]):
    first, second = paces(engines)
    times = [t for booked in await asyncio.gather(
        slots(first, [Turn("telegram", "42")] * 2), slots(second, [Turn("telegram", "42")] * 2))
        for t in booked]
    ordered = sorted(times)
    assert all(b - a >= 0.99 for a, b in itertools.pairwise(ordered)), ordered
    [other] = await slots(first, [Turn("telegram", "43")])  # another chat is not held by it
    assert other - time.monotonic() < 1.0


async def test_a_pause_stored_by_one_process_holds_the_other(engines: list[Engine]):
    first, second = paces(engines)
    await first.pause("telegram", 2.0)
    assert 1.5 < first.paused_for("telegram") <= 2.0
    assert second.paused_for("telegram") == 0  # not read yet ...
    [wait] = await second.reserve([Turn("telegram", "42")])
    assert 1.5 < wait <= 2.0  # ... but its turn comes after the pause (less the time gone by)
    assert 1.5 < second.paused_for("telegram") <= 2.0
    third = paces(engines)[0]  # a process that books nothing learns it before its next send
    assert 1.5 < await third.acquire("telegram", asyncio.sleep) <= 2.0
    assert await third.acquire("web", asyncio.sleep) == 0  # not limited, never paused


async def test_a_place_given_back_is_taken_by_the_next_and_past_rows_are_deleted(
        engines: list[Engine], pg_url: str):
    first, second = paces(engines)
    waits = await first.reserve([Turn("telegram", "42")] * 3)
    assert waits == pytest.approx([0, 1.03, 2.06], abs=0.1)
    await first.release([Turn("telegram", "42")] * 2)
    [wait] = await second.reserve([Turn("telegram", "42")])
    assert 0.5 < wait <= 1.03  # the second place, not the fourth

    async def rows() -> int:
        async with engines[0].connect() as connection:
            return (await connection.execute(select(func.count()).select_from(OutboxPace))).scalar_one()

    assert await rows() == 2  # the channel's and the chat's
    await asyncio.sleep(0.2)  # the channel's next free moment is past (3 turns at 27/s)
    await first.tidy()
    assert await rows() == 1  # the chat's is still ahead
    await asyncio.sleep(2.0)
    await first.tidy()
    assert await rows() == 0


async def test_replies_counted_in_a_web_process_make_the_outbox_give_way(engines: list[Engine]):
    web, worker = paces(engines)
    web.replied("telegram", 29)  # nearly a whole second of Telegram's limit
    web.replied("web", 100)  # not limited: not counted
    await web.close()  # written now rather than after ``GATHER``
    [wait] = await worker.reserve([Turn("telegram", "42")])
    assert 0.5 < wait <= 29 * 1.03 / 30  # the replies' time, less what has gone by since


async def test_late_sends_of_a_process_do_not_bunch_up(engines: list[Engine]):
    """Sends that went out late, all at once (the process was busy), push the next ones
    back: never more than the outbox's 27 in any 1.03 s of one process's own sends."""
    now, slept = [0.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = SharedPace(database.session_factory(engines[0]), OutboxSettings(),
                      monotonic=lambda: now[0])
    for _ in range(OUTBOX_SHARE):
        assert await pace.acquire("telegram", sleep) == 0
    assert slept == []
    assert await pace.acquire("telegram", sleep) == 0  # the 28th waits for the window
    assert slept == [pytest.approx(1.03)]
    await pace.pause("telegram", 5.0)
    assert await pace.acquire("telegram", sleep) == pytest.approx(5.0, abs=0.5)  # held, not sent


# --- two senders, their Telegram adapters on the fake Bot API ---------------------------------

def on(url: str, api: FakeBotAPI, via: str) -> Settings:
    """A process's settings; its Telegram calls reach the fake under ``/{via}``."""
    settings = telegram_settings(Settings(database={"url": url},
                                          card={"secret": "test-signing-key-0123456789"}), api)
    assert settings.telegram is not None
    return settings.model_copy(update={"telegram": settings.telegram.model_copy(
        update={"api_base": f"{api.base_url}/{via}"})})


@pytest.fixture
async def senders(pg_url: str, api: FakeBotAPI) -> AsyncIterator[list[Application]]:
    applications = [await build(on(pg_url, api, via), SystemClock()) for via in ("a", "b")]
    yield applications
    for application in applications:
        await application.close()


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_429_met_by_one_sender_pauses_the_other(senders: list[Application], api: FakeBotAPI):
    await queue(senders[0], *range(100, 180))
    for sender in senders:
        await sender.outbox.start()
    await until(lambda: len({call.via for call in api.calls_to("sendMessage")}) == 2)  # both send
    refused = len(api.calls_to("sendMessage"))  # the next call is answered 429
    api.fail_next("sendMessage", 429, parameters={"retry_after": 3})
    await until(lambda: len(api.calls_to("sendMessage")) >= 81)  # 80 and the refused one

    calls = api.calls_to("sendMessage")
    stopped = calls[refused].at
    # what was already on its way when the 429 came (the other learns of it within REFRESH)
    after = [call for call in calls[refused + 1:] if call.at > stopped + 1.0]
    assert after and min(call.at for call in after) >= stopped + 3.0 - 0.05  # nobody sent ...
    assert {call.via for call in after} == {"a", "b"}  # ... until the pause was over, then both
    assert busiest_second([call.at for call in calls]) <= 30
    delivered = Counter(str(call.params["chat_id"]) for call in calls)
    assert Counter(delivered.values()) == {1: 79, 2: 1}  # the refused one went again, once
    for sender in senders:
        await sender.outbox.stop()
    assert {(m.status, m.attempts) for m in await messages(senders[0])} == {("sent", 1)}



async def test_a_batch_with_an_unlimited_channel_books_the_others(engines: list[Engine]):
    """A batch mixing a limited channel with one that has no limits (the web chat, wallet
    updates): the unlimited turns go at once, the others are booked as usual."""
    [pace, _] = paces(engines)
    waits = await pace.reserve([Turn("telegram", "42"), Turn("wallet", "7"), Turn("telegram", "42")])
    assert waits[1] == 0.0 and waits[2] >= 0.99
