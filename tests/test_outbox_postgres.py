"""The outbox sender on a real PostgreSQL: senders in several processes share one queue
(``FOR UPDATE SKIP LOCKED``) and every chat gets its message exactly once, through the real
Telegram adapter to the fake Bot API. (429 and blocked users run on both databases in
tests/test_outbox.py.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.app import Application, build
from bot.config import OutboxSettings, Settings
from bot.core.clock import SystemClock
from bot.storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_outbox import messages, queue
from tests.test_telegram_channel import api, telegram_settings  # noqa: F401 - api is a fixture

CHATS = range(1000, 1200)


def on(url: str, api: FakeBotAPI, **outbox: float) -> Settings:
    """The application on the database ``url``, its Telegram adapter on the fake Bot API."""
    settings = Settings(database={"url": url}, card={"secret": "test-signing-key-0123456789"},
                        outbox=OutboxSettings(**outbox))
    return telegram_settings(settings, api)


@pytest.fixture
def pg_url(pg_migrated_url: str) -> str:
    return pg_migrated_url


@pytest.fixture
async def senders(pg_url: str, api: FakeBotAPI) -> AsyncIterator[list[Application]]:
    """Four processes on one PostgreSQL database, each with its own engine and sender. Fast
    rate limits keep the test short (each sender keeps its own buckets)."""
    settings = on(pg_url, api, telegram_per_second=1000, telegram_per_chat_per_second=10)
    applications = [await build(settings, SystemClock()) for _ in range(4)]
    yield applications
    for application in applications:
        await application.close()


async def test_senders_share_the_queue_and_send_each_message_once(
        senders: list[Application], api: FakeBotAPI):
    """Four, not two: two senders fall into step (one claims while the other sends), so
    their claims hardly ever overlap; with four they do, and without the row lock some
    chats get two or three copies."""
    await queue(senders[0], *CHATS)

    sent = await asyncio.wait_for(
        asyncio.gather(*(sender.outbox.send_due() for sender in senders)), timeout=20)

    delivered = Counter(str(c.params["chat_id"]) for c in api.calls_to("sendMessage"))
    assert delivered == Counter({str(chat): 1 for chat in CHATS})  # every chat, exactly once
    assert sum(sent) == len(CHATS)
    assert sum(n > 0 for n in sent) >= 2, f"the queue was not shared: {sent}"
    assert {(m.status, m.attempts) for m in await messages(senders[0])} == {("sent", 1)}
    assert [await sender.outbox.send_due() for sender in senders] == [0, 0, 0, 0]


async def test_a_sender_skips_what_another_is_claiming_and_does_not_wait(
        senders: list[Application], api: FakeBotAPI):
    first, second = senders[:2]
    await queue(first, *range(1, 41))
    async with first.engine.connect() as claiming:  # another sender, in the middle of its claim
        await claiming.execute(select(OutboxMessage.id).order_by(OutboxMessage.id).limit(20)
                               .with_for_update())
        assert await asyncio.wait_for(second.outbox.send_due(), timeout=5) == 20
        await claiming.rollback()  # it crashed before marking them: they are pending still
    assert sorted(int(c.params["chat_id"]) for c in api.calls_to("sendMessage")) == list(range(21, 41))
    assert await second.outbox.send_due() == 20
    assert sorted(int(c.params["chat_id"]) for c in api.calls_to("sendMessage")) == list(range(1, 41))
