"""The outbox: a notice is queued in the transaction that caused it and sent afterwards by
the sender, through the real Telegram adapter against the fake Bot API on 127.0.0.1, with
429 retry_after, blocked users, restarts and rate limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import Application, build
from bot.channels.base import RetryLater
from bot.config import DatabaseSettings, OutboxSettings, Settings
from bot.core.clock import SystemClock
from bot.core.replies import AskContact, Button, Picture, Text, from_json, keyboard, to_json
from bot.delivery.notify import Notification, Notifier
from bot.delivery.outbox import RateLimits, TokenBucket
from bot.storage.models import Identity, OutboxMessage, Purchase
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_cashier_chat import Outbox, button, hire, outbox, scan  # noqa: F401 - outbox is a fixture
from tests.test_telegram_channel import api, telegram_settings  # noqa: F401 - api is a fixture


async def messages(app: Application) -> list[OutboxMessage]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def queue(app: Application, *chat_ids: int, text: str = "Hello") -> None:
    """One message to each Telegram chat, queued the way a transaction does it."""
    async with app.core.unit_of_work() as uow:
        now = app.core.services.clock.now()
        notifications = []
        for chat_id in chat_ids:
            identity = await uow.identities.claim("telegram", str(chat_id), now)
            await uow.session.flush()
            notifications.append(Notification(lambda t, c=chat_id: [Text(f"{text} {c}")],
                                              identity_id=identity.id))
        await app.core.notifier.enqueue(uow, notifications, now)
        await uow.commit()


def test_replies_survive_the_trip_through_json():
    replies = [Text("hi", keyboard([Button("A", payload="a"), Button("B", url="https://x.test")])),
               Picture(b"\x89PNG..", "card", keyboard([Button("C", payload="c")]), cache_key="k"),
               AskContact("phone?", "Share")]
    assert [from_json(to_json(reply)) for reply in replies] == replies


# --- queued in the same transaction ---------------------------------------------------------

async def test_a_cashier_purchase_queues_the_notice_in_its_own_transaction(
        app, chat, clock, outbox: Outbox, monkeypatch):
    ivan = chat("42", flush=None)
    await ivan.sign_up()
    kate = await hire(app, chat, clock, flush=None)
    await scan(ivan, kate)
    summary = await kate.press(button(await kate.send("1000"), "co.earn:"))
    confirm = button(summary, "co.ok:")

    original = Notifier.enqueue

    async def then_fail(self: Notifier, *args: Any) -> int:
        await original(self, *args)
        raise RuntimeError("the transaction fails after queueing")

    monkeypatch.setattr(Notifier, "enqueue", then_fail)
    await kate.press(confirm)  # the event fails and is rolled back as a whole
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(Purchase))).first() is None
    assert await messages(app) == []  # no purchase, no notice

    monkeypatch.setattr(Notifier, "enqueue", original)
    await kate.press(confirm)
    [message] = await messages(app)
    assert (message.channel, message.external_id, message.status, message.category) == (
        "telegram", "42", "pending", "service")
    assert outbox.sent == []  # queued, not sent yet
    assert await app.outbox.send_due() == 1
    [notice] = outbox.to("42")
    assert "Спасибо за покупку на 1 000,00 ₽" in notice
    assert (await messages(app))[0].status == "sent"
    assert await app.outbox.send_due() == 0 and len(outbox.sent) == 1


# --- through the real Telegram adapter --------------------------------------------------------

@pytest.fixture
async def telegram(settings: Settings, any_db_url: str, api: FakeBotAPI) -> AsyncIterator[Application]:
    """The application on each database (SQLite, PostgreSQL) with its Telegram adapter on
    the fake Bot API and the real clock (retry_after is waited for in real time)."""
    on_database = settings.model_copy(update={"database": DatabaseSettings(url=any_db_url)})
    application = await build(telegram_settings(on_database, api), SystemClock())
    yield application
    await application.close()


async def test_429_waits_exactly_retry_after_and_sends_once(telegram: Application, api: FakeBotAPI):
    await queue(telegram, 42)
    api.fail_next("sendMessage", 429, parameters={"retry_after": 1})
    started = time.monotonic()
    await telegram.outbox.start()
    calls = await api.wait_for("sendMessage", 2, timeout=5)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.5
    assert [c.params["text"] for c in calls] == ["Hello 42", "Hello 42"]  # refused, then sent
    await asyncio.sleep(0.3)
    assert len(api.calls_to("sendMessage")) == 2  # nothing twice
    [message] = await messages(telegram)
    assert (message.status, message.attempts) == ("sent", 1)


async def test_a_user_who_blocked_the_bot_becomes_unreachable_and_is_skipped(
        telegram: Application, api: FakeBotAPI):
    api.block_chat(43)
    await queue(telegram, 42, 43)
    assert await telegram.outbox.send_due() == 1
    statuses = {m.external_id: m.status for m in await messages(telegram)}
    assert statuses == {"42": "sent", "43": "blocked"}
    async with telegram.core.unit_of_work() as uow:
        reachable = dict((await uow.session.execute(
            select(Identity.external_id, Identity.reachable))).all())
    assert reachable == {"42": True, "43": False}

    await queue(telegram, 43, text="Again")  # not even queued any more
    assert len(await messages(telegram)) == 2
    assert await telegram.outbox.send_due() == 0
    assert [str(c.params["chat_id"]) for c in api.calls_to("sendMessage")] == ["42", "43"]


async def test_a_restart_resumes_the_queue(settings: Settings, api: FakeBotAPI):
    first = await build(telegram_settings(settings, api), SystemClock())
    await queue(first, 1, 2, 3)
    async with first.core.unit_of_work() as uow:  # a crash while message 1 was in flight
        await uow.session.execute(update(OutboxMessage).where(OutboxMessage.external_id == "1")
                                  .values(status="sending", attempts=1))
        await uow.commit()
    await first.close()
    assert api.calls_to("sendMessage") == []

    second = await build(telegram_settings(settings, api), SystemClock())
    try:
        await second.outbox.start()
        await api.wait_for("sendMessage", 3)
        await asyncio.sleep(0.3)
        assert sorted(str(c.params["chat_id"]) for c in api.calls_to("sendMessage")) == ["1", "2", "3"]
        assert {m.status for m in await messages(second)} == {"sent"}
    finally:
        await second.close()


async def test_forty_chats_at_thirty_a_second_take_over_a_second(telegram: Application, api: FakeBotAPI):
    await queue(telegram, *range(100, 140))
    started = time.monotonic()
    assert await telegram.outbox.send_due() == 40
    elapsed = time.monotonic() - started
    assert elapsed >= 39 / 30 - 0.05
    assert len({str(c.params["chat_id"]) for c in api.calls_to("sendMessage")}) == 40


def test_the_token_bucket_spaces_sends_evenly():
    now = [0.0]
    bucket = TokenBucket(30, monotonic=lambda: now[0])
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30])
    now[0] = 10.0  # idle: full again, but never more than one at once
    assert bucket.reserve() == 0 and bucket.reserve() == pytest.approx(1 / 30)
    bucket.pause(2.0)
    assert bucket.reserve() == pytest.approx(2.0 + 1 / 30)


async def test_late_sends_push_the_next_ones_back_and_a_pause_holds_the_rest():
    """The real send times decide: never more than 30 in any 1.03 s, however the sends were
    spaced before; and after a 429 the sends waiting their turn do not go out."""
    now = [0.0]
    limits = RateLimits(OutboxSettings(telegram_per_second=30, reply_share_percent=0),
                        monotonic=lambda: now[0])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    for _ in range(30):  # all late, at the same instant
        assert await limits.acquire("telegram", sleep) == 0
    assert slept == []
    assert await limits.acquire("telegram", sleep) == 0  # the 31st waits for the window
    assert slept == [pytest.approx(1.03)]
    limits.pause("telegram", 2.0)
    assert await limits.acquire("telegram", sleep) == pytest.approx(2.0)  # held, not sent
    assert await limits.acquire("web", sleep) == 0  # unlimited channels are never held


async def test_the_outbox_leaves_room_for_replies_and_replies_come_first():
    """Of 30 a second the outbox takes 27; replies to people who just wrote are never held,
    and when they crowd the second the outbox waits for them."""
    now = [0.0]
    limits = RateLimits(OutboxSettings(telegram_per_second=30), monotonic=lambda: now[0])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    assert limits.share == pytest.approx(0.9)
    for _ in range(27):
        assert await limits.acquire("telegram", sleep) == 0
    assert slept == []
    limits.replied("telegram", 3)  # the room left: replies go at once, nothing waits
    assert slept == []
    assert await limits.acquire("telegram", sleep) == 0  # the 28th outbox send: next window
    assert slept == [pytest.approx(1.03)]
    slept.clear()
    limits.replied("telegram", 10)  # a burst of replies takes more than its share ...
    for _ in range(20):
        assert await limits.acquire("telegram", sleep) == 0
    assert sum(slept) == pytest.approx(1.03)  # ... and the outbox gives way for a window


async def test_a_claim_is_taken_back_only_when_its_lease_is_over(app, clock, outbox: Outbox):
    """Another live instance's claim is left alone; an expired one (its instance died) is
    sent again, and the interrupted attempt does not count."""
    await queue(app, 1, 2)
    lease_end = clock.now() + timedelta(seconds=app.settings.outbox.claim_lease_seconds)
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(update(OutboxMessage).where(OutboxMessage.external_id == "1")
                                  .values(status="sending", attempts=1, not_before=lease_end))
        await uow.commit()
    assert await app.outbox.recover() == 0
    assert await app.outbox.send_due() == 1 and [who for who, _ in outbox.sent] == ["2"]
    clock.set(lease_end)
    assert await app.outbox.recover() == 1
    assert await app.outbox.send_due() == 1 and [who for who, _ in outbox.sent] == ["2", "1"]
    assert [(m.status, m.attempts) for m in await messages(app)] == [("sent", 1), ("sent", 1)]


class Pausing:
    """Telegram asking the bot to wait five minutes on the first message it gets."""

    name = "telegram"

    def __init__(self) -> None:
        self.got: list[str] = []

    async def deliver(self, recipient: str, replies: Any, message_id: int | None = None) -> None:
        self.got.append(recipient)
        if len(self.got) == 1:
            raise RetryLater(300)


async def test_a_long_pause_is_never_waited_out_inside_a_claim(app, clock):
    """After a 300 s pause the other claimed messages go back to pending with the pause's
    end as their time (no claim is held across it: its lease is 120 s), and nothing more is
    claimed for the paused channel."""
    channel = Pausing()
    app.core.notifier.channels["telegram"] = channel
    await queue(app, 1, 2, 3)
    started = time.monotonic()
    assert await asyncio.wait_for(app.outbox.send_due(), timeout=10) == 0
    assert time.monotonic() - started < 5  # nobody slept through the pause
    rows = await messages(app)
    assert {(m.status, m.attempts) for m in rows} == {("pending", 0)}
    assert min(m.not_before for m in rows) >= clock.now() + timedelta(seconds=299)
    await queue(app, 4)  # due now, but its channel is paused: not claimed
    assert await app.outbox.send_due() == 0 and len(channel.got) <= 3
    assert [m.status for m in await messages(app)] == ["pending"] * 4


async def test_a_wait_longer_than_part_of_the_lease_goes_back_to_pending(app, clock, outbox: Outbox):
    """One chat with more queued than its one-a-second pace lets go within a quarter of the
    lease: the rest is given back, due when its turn comes, instead of held in a claim."""
    app.outbox.longest_wait = 2.0  # a quarter of a 8 s lease, to keep the test short
    await queue(app, *([7] * 6))
    assert await app.outbox.send_due() <= 4
    rows = await messages(app)
    waiting = [m for m in rows if m.status == "pending"]
    assert waiting and all(m.attempts == 0 for m in waiting)
    assert all(m.not_before > clock.now() for m in waiting)
    assert not [m for m in rows if m.status == "sending"]


# --- the real payloads of triggers and broadcasts at the platform's pace ------------------------

async def members(app: Application, count: int) -> None:
    from tests.chat import TELEGRAM_LIKE, ChatUser

    for n in range(count):
        await ChatUser(app.core, TELEGRAM_LIKE, str(1000 + n), name=f"Guest {n}").sign_up(
            phone=f"+7900{n:07d}")


async def test_trigger_and_broadcast_messages_go_at_the_outbox_share_of_the_limit(
        settings: Settings, api: FakeBotAPI):
    """A trigger's message is a text with a template hint (for WhatsApp), a broadcast's a
    picture with its caption and a button (and the hint): one API call each on Telegram, so
    60 of them take the time of 60 calls at 27 a second, with no 429 from Telegram."""
    from bot.core.clock import FrozenClock
    from bot.marketing import broadcasts
    from bot.marketing.triggers import run_pass
    from bot.storage.models import Broadcast

    api.rate_limit = 30
    clock = FrozenClock(datetime(2026, 4, 1, 8, 0, tzinfo=UTC))  # the 1st: a digest day, 11:00
    application = await build(telegram_settings(settings, api), clock)
    try:
        settings.triggers.holdout_percent = 0
        await members(application, 60)
        await application.outbox.send_due()  # the sign-ups' own replies went directly
        planned = await run_pass(application.core, clock.now())
        assert len([p for p in planned if p.trigger == "balance_digest"]) == 60
        async with application.core.unit_of_work() as uow:
            payloads = [m.payload for m in (await uow.session.execute(select(OutboxMessage))).scalars()]
        assert {tuple(item["type"] for item in payload) for payload in payloads} == {("text", "template")}
        started = time.monotonic()
        assert await application.outbox.send_due() == 60
        elapsed = time.monotonic() - started
        assert 59 / 27 - 0.1 <= elapsed < 59 / 27 * 1.25 + 0.3  # not at half or a third of it
        assert api.limited == 0

        async with application.core.unit_of_work() as uow:
            draft = Broadcast(status="draft", text="New menu!", image=b"\x89PNG picture",
                              button_label="Menu", button_url="https://example.com/menu",
                              segment="all", created_at=clock.now())
            uow.session.add(draft)
            await uow.session.flush()
            assert await broadcasts.start(uow, draft.id, clock.now(), application.settings) == 60
            await uow.commit()
        await broadcasts.enqueue(application.core, draft.id)
        clock.advance(minutes=5)  # the broadcast's slots are due
        started = time.monotonic()
        assert await application.outbox.send_due() == 60
        elapsed = time.monotonic() - started
        assert 59 / 27 - 0.1 <= elapsed < 59 / 27 * 1.25 + 0.3
        photos = api.calls_to("sendPhoto")
        assert len(photos) == 60 and photos[0].params["caption"] == "New menu!"
        assert api.limited == 0
    finally:
        await application.close()
