"""The Telegram adapter end to end: the real aiogram client against the fake Bot API on
127.0.0.1, in long-polling and in webhook mode."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import Application, build
from bot.channels.telegram import TelegramChannel
from bot.config import Settings, TelegramSettings
from bot.console.invites import create_invite
from bot.core.clock import FrozenClock
from bot.loyalty.cards import format_card_number
from bot.storage.models import Customer, Identity
from tests.chat import with_messenger
from tests.fakes.telegram_api import (
    Call,
    FakeBotAPI,
    callback_update,
    contact_update,
    message_update,
    sticker_update,
)

TOKEN = "123:ABC"
SECRET = "s3cret-webhook-token"
PUBLIC_URL = "https://shop.example.com"
IVAN = 42
PETR = 77
SETTLE = 0.15  # how long "nothing more happens" is watched for


# --- harness -------------------------------------------------------------------------------

def telegram_settings(settings: Settings, api: FakeBotAPI, **telegram: Any) -> Settings:
    return with_messenger(settings, "telegram", TelegramSettings(
        token=SecretStr(TOKEN), api_base=api.base_url, **telegram), PUBLIC_URL)


@dataclass
class Bot:
    """The running application and the fake Telegram it talks to."""

    app: Application
    channel: TelegramChannel
    api: FakeBotAPI

    def sent(self, chat_id: int, method: str = "sendMessage") -> list[Call]:
        return [c for c in self.api.calls_to(method) if str(c.params.get("chat_id")) == str(chat_id)]

    def texts(self, chat_id: int) -> list[str]:
        return [c.params["text"] for c in self.sent(chat_id)]

    async def step(self, update: dict[str, Any], replies: int, method: str = "sendMessage") -> list[Call]:
        """Push one update and return the ``replies`` calls to ``method`` it caused."""
        before = len(self.api.calls_to(method))
        self.api.push_update(update)
        return (await self.api.wait_for(method, before + replies))[before:]

    async def quiet(self, method: str = "sendMessage") -> None:
        """Fail if ``method`` is called again within a short while."""
        before = len(self.api.calls_to(method))
        with pytest.raises(TimeoutError):
            await self.api.wait_for(method, before + 1, timeout=SETTLE)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(settings: Settings, clock: FrozenClock, api: FakeBotAPI) -> AsyncIterator[Bot]:
    application = await build(telegram_settings(settings, api, mode="polling"), clock)
    try:
        channel = application.channel("telegram")
        assert isinstance(channel, TelegramChannel)
        await channel.start()
        await application.outbox.start()
        yield Bot(application, channel, api)
    finally:
        await application.close()


async def customers(app: Application) -> list[Customer]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer))).scalars())


async def identity_count(app: Application) -> int:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(func.count()).select_from(Identity))).scalar_one()


def buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def payloads(call: Call) -> list[str]:
    return [b["callback_data"] for b in buttons(call) if "callback_data" in b]


async def sign_up(bot: Bot, user_id: int = IVAN, first_update_id: int = 1) -> list[Call]:
    """/start → consent → own contact → profile name → birthday; returns the welcome."""
    u = first_update_id
    await bot.step(message_update(u, user_id, "/start"), 1)
    await bot.step(callback_update(u + 1, user_id, "consent:yes"), 1)
    await bot.step(contact_update(u + 2, user_id, "+79001234567", contact_user_id=user_id), 2)
    await bot.step(callback_update(u + 3, user_id, "name:profile"), 1)
    return await bot.step(message_update(u + 4, user_id, "14.03.1990"), 1)


# --- long polling --------------------------------------------------------------------------

async def test_start_connects_and_long_polls(bot: Bot):
    api = bot.api
    assert len(api.calls_to("getMe")) >= 1
    default, russian, english = api.calls_to("setMyCommands")
    assert "language_code" not in default.params
    assert {c["command"] for c in default.params["commands"]} >= {"start", "card", "balance"}
    assert {c["description"] for c in russian.params["commands"]} >= {"Моя карта"}
    assert english.params["language_code"] == "en"
    assert {c["description"] for c in english.params["commands"]} >= {"My card"}
    assert len(api.calls_to("deleteWebhook")) == 1
    assert api.calls_to("setWebhook") == []
    polls = await api.wait_for("getUpdates")
    assert set(polls[0].params["allowed_updates"]) == {"message", "callback_query"}
    assert bot.channel.username == "loyalty_test_bot"
    assert bot.channel.info().deep_link("x") == "https://t.me/loyalty_test_bot?start=x"


async def test_polling_cancelled_when_its_turn_is_lost_leaves_no_poll_behind(bot: Bot):
    """``in_turn`` cancels the polling when its lock is lost (another process may poll by
    now): no request of this process is left asking Telegram for updates."""
    await bot.api.wait_for("getUpdates")
    polling = bot.channel._polling
    assert polling is not None
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    polls = len(bot.api.calls_to("getUpdates"))
    bot.api.push_update(message_update(1, IVAN, "/start"))
    with pytest.raises(TimeoutError):  # longer than a long poll of the fake: nobody takes it
        await bot.api.wait_for("sendMessage", 1, timeout=2 * bot.api.max_poll_timeout)
    assert len(bot.api.calls_to("getUpdates")) == polls


async def test_sign_up_through_telegram_then_the_card_photo(bot: Bot):
    [greeting] = await bot.step(message_update(1, IVAN, "/start"), 1)
    assert "Coffee Point" in greeting.params["text"]
    assert "consent:yes" in payloads(greeting)

    [ask] = await bot.step(callback_update(2, IVAN, "consent:yes"), 1)
    assert [c.params["callback_query_id"] for c in bot.api.calls_to("answerCallbackQuery")] == ["cb-2"]
    keyboard = ask.params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    assert "Поделитесь номером" in ask.params["text"]

    saved, name_prompt = await bot.step(
        contact_update(3, IVAN, "+7 (900) 123-45-67", contact_user_id=IVAN), 2)
    assert saved.params["reply_markup"] == {"remove_keyboard": True}
    assert "Спасибо, номер сохранён" in saved.params["text"]
    assert "Как к вам обращаться?" in name_prompt.params["text"]
    assert "name:profile" in payloads(name_prompt)

    [birthday] = await bot.step(callback_update(4, IVAN, "name:profile"), 1)
    assert "день рождения" in birthday.params["text"]

    [welcome] = await bot.step(message_update(5, IVAN, "14.03.1990"), 1)
    assert "Добро пожаловать в программу, Ivan!" in welcome.params["text"]
    assert "+100 баллов" in welcome.params["text"]

    [customer] = await customers(bot.app)
    assert customer.phone == "+79001234567" and customer.phone_verified
    assert (customer.birth_day, customer.birth_month, customer.birth_year) == (14, 3, 1990)
    assert len(bot.sent(IVAN)) == 6

    # the card: a PNG upload with the number in the caption ...
    [photo] = await bot.step(callback_update(6, IVAN, "card"), 1, method="sendPhoto")
    upload = photo.files["photo"]
    assert upload.data.startswith(b"\x89PNG")
    assert format_card_number(customer.card_number) in photo.params["caption"]
    assert "balance" in payloads(photo)

    # ... and within the same minutes the uploaded photo is reused by its file id
    [again] = await bot.step(callback_update(7, IVAN, "card"), 1, method="sendPhoto")
    assert again.files == {}
    assert isinstance(again.params["photo"], str) and again.params["photo"].startswith("fake-file-")
    assert format_card_number(customer.card_number) in again.params["caption"]
    assert len(bot.api._files) == 1  # uploaded exactly once


async def test_someone_elses_contact_is_refused(bot: Bot):
    await bot.step(message_update(1, IVAN, "/start"), 1)
    await bot.step(callback_update(2, IVAN, "consent:yes"), 1)
    refusal, ask = await bot.step(contact_update(3, IVAN, "+79990000000", contact_user_id=PETR), 2)
    assert "Это не ваш контакт" in refusal.params["text"]
    assert ask.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert await customers(bot.app) == []


async def test_contact_without_a_user_id_is_not_taken_as_own(bot: Bot):
    await bot.step(message_update(1, IVAN, "/start"), 1)
    await bot.step(callback_update(2, IVAN, "consent:yes"), 1)
    [refusal, _] = await bot.step(contact_update(3, IVAN, "+79990000000", contact_user_id=None), 2)
    assert "Это не ваш контакт" in refusal.params["text"]
    assert await customers(bot.app) == []


async def test_a_redelivered_update_is_handled_once(bot: Bot):
    start = message_update(1, IVAN, "/start")
    bot.api.push_update(start)
    bot.api.push_update(start)  # the same update_id twice in one getUpdates batch
    await bot.api.wait_for("sendMessage", 1)
    await bot.quiet()
    assert len(bot.sent(IVAN)) == 1
    assert "consent:yes" in payloads(bot.sent(IVAN)[0])


async def test_two_users_at_once_are_both_answered(bot: Bot):
    bot.api.push_update(message_update(1, IVAN, "/start"))
    bot.api.push_update(message_update(2, PETR, "/start", first_name="Petr"))
    await bot.api.wait_for("sendMessage", 2)
    await bot.quiet()
    assert len(bot.sent(IVAN)) == 1 and len(bot.sent(PETR)) == 1


async def test_a_sticker_gets_the_text_and_buttons_answer(bot: Bot):
    replies = await bot.step(sticker_update(1, IVAN), 1)
    assert "Я понимаю текст и кнопки" in replies[0].params["text"]


async def test_a_sticker_from_a_member_gets_the_menu(bot: Bot):
    await sign_up(bot)
    [menu] = await bot.step(sticker_update(10, IVAN), 1)
    assert "Я понимаю текст и кнопки" in menu.params["text"]
    assert "card" in payloads(menu)


async def test_a_user_who_blocked_the_bot_does_not_stop_the_others(bot: Bot, caplog):
    caplog.set_level(logging.INFO, logger="bot.channels.telegram")
    bot.api.block_chat(IVAN)
    bot.api.push_update(message_update(1, IVAN, "/start"))
    await bot.api.wait_for("sendMessage", 1)  # attempted, answered 403
    [answer] = await bot.step(message_update(2, PETR, "/start", first_name="Petr"), 1)
    assert str(answer.params["chat_id"]) == str(PETR)
    assert "consent:yes" in payloads(answer)
    assert len(bot.sent(IVAN)) == 1
    assert await identity_count(bot.app) == 2  # Ivan's /start was processed all the same
    assert any("blocked" in r.getMessage() and str(IVAN) in r.getMessage() for r in caplog.records)

    # and once unblocked, Ivan continues where he stopped
    bot.api.unblock_chat(IVAN)
    [ask] = await bot.step(callback_update(3, IVAN, "consent:yes"), 1)
    assert ask.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_a_failing_send_is_logged_and_polling_goes_on(bot: Bot, caplog):
    bot.api.fail_next("sendMessage", 400, "Bad Request: message is too long")
    bot.api.push_update(message_update(1, IVAN, "/start"))
    await bot.api.wait_for("sendMessage", 1)
    [answer] = await bot.step(message_update(2, PETR, "/start"), 1)
    assert str(answer.params["chat_id"]) == str(PETR)
    assert any("could not answer" in r.getMessage() for r in caplog.records)


async def test_a_button_press_is_handled_even_if_it_cannot_be_acknowledged(bot: Bot):
    """answerCallbackQuery fails for presses older than ~15 s (e.g. after a restart);
    the press itself must not be lost."""
    await bot.step(message_update(1, IVAN, "/start"), 1)
    bot.api.fail_next("answerCallbackQuery", 400,
                      "Bad Request: query is too old and response timeout expired or query ID is invalid")
    [ask] = await bot.step(callback_update(2, IVAN, "consent:yes"), 1)
    assert ask.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_group_messages_are_ignored(bot: Bot):
    group = message_update(1, IVAN, "/start")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Chat"}
    bot.api.push_update(group)
    [_] = await bot.step(message_update(2, PETR, "/start"), 1)
    assert bot.sent(-100123) == [] and bot.sent(IVAN) == []


async def test_stop_right_after_start_is_clean(settings: Settings, clock: FrozenClock, api: FakeBotAPI):
    application = await build(telegram_settings(settings, api, mode="polling"), clock)
    channel = application.channel("telegram")
    assert channel is not None
    await channel.start()
    await application.close()  # before the polling task had a chance to run
    assert channel.bot.session._session is None or channel.bot.session._session.closed


# --- webhook -------------------------------------------------------------------------------

@dataclass
class Hooked(Bot):
    client: TestClient | None = None

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        assert self.client is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        response = await self.client.post("/telegram/webhook", json=update, headers=headers)
        await response.read()
        return response.status


@pytest.fixture
async def hooked(settings: Settings, clock: FrozenClock, api: FakeBotAPI) -> AsyncIterator[Hooked]:
    application = await build(telegram_settings(
        settings, api, mode="webhook", webhook_secret=SecretStr(SECRET)), clock)
    try:
        channel = application.channel("telegram")
        assert isinstance(channel, TelegramChannel)
        async with TestClient(TestServer(application.web)) as client:
            await channel.start()
            yield Hooked(application, channel, api, client)
    finally:
        await application.close()


async def test_webhook_is_set_with_the_secret_and_the_public_url(hooked: Hooked):
    [call] = hooked.api.calls_to("setWebhook")
    assert call.params["url"] == PUBLIC_URL + "/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert set(call.params["allowed_updates"]) == {"message", "callback_query"}
    assert hooked.api.calls_to("deleteWebhook") == []
    assert hooked.api.calls_to("getUpdates") == []


async def test_webhook_refuses_a_wrong_or_missing_secret(hooked: Hooked):
    assert await hooked.post(message_update(1, IVAN, "/start"), secret="wrong") == 401
    assert await hooked.post(message_update(2, IVAN, "/start"), secret=None) == 401
    await hooked.quiet()
    assert hooked.api.calls_to("sendMessage") == []
    assert await identity_count(hooked.app) == 0


async def test_webhook_with_the_right_secret_is_answered(hooked: Hooked):
    assert await hooked.post(message_update(1, IVAN, "/start")) == 200
    [greeting] = await hooked.api.wait_for("sendMessage")
    assert str(greeting.params["chat_id"]) == str(IVAN)
    assert "consent:yes" in payloads(greeting)
    assert await hooked.post(callback_update(2, IVAN, "consent:yes")) == 200
    _, ask = await hooked.api.wait_for("sendMessage", 2)
    assert ask.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_webhook_redelivery_is_handled_once(hooked: Hooked):
    update = message_update(1, IVAN, "/start")
    assert await hooked.post(update) == 200
    assert await hooked.post(update) == 200  # Telegram retries when it saw no answer in time
    await hooked.api.wait_for("sendMessage")
    await hooked.quiet()
    assert len(hooked.sent(IVAN)) == 1


async def test_webhook_mode_without_a_configured_secret_makes_one_up(
        settings: Settings, clock: FrozenClock, api: FakeBotAPI):
    application = await build(telegram_settings(settings, api, mode="webhook"), clock)
    try:
        channel = application.channel("telegram")
        assert isinstance(channel, TelegramChannel)
        await channel.start()
        [call] = api.calls_to("setWebhook")
        assert len(call.params["secret_token"]) >= 32
        assert call.params["secret_token"] == channel.webhook_secret
    finally:
        await application.close()



async def test_a_contact_telegram_sends_without_the_plus_is_accepted(bot: Bot):
    """Telegram writes shared numbers as bare digits ("380501234567")."""
    await bot.step(message_update(1, IVAN, "/start"), 1)
    await bot.step(callback_update(2, IVAN, "consent:yes"), 1)
    _saved, ask_name = await bot.step(contact_update(3, IVAN, "380501234567", contact_user_id=IVAN), 2)
    assert "Как к вам обращаться?" in ask_name.params["text"]
    [customer] = await customers(bot.app)
    assert customer.phone == "+380501234567" and customer.phone_verified


# --- updatable messages and files ------------------------------------------------------------

async def test_a_text_with_a_key_is_edited_in_place_and_a_document_is_uploaded(bot: Bot, tmp_path):
    from bot.core.replies import Document, Text

    await bot.channel.deliver(str(IVAN), [Text("Sent 0 of 3", key="progress:1")])
    await bot.channel.deliver(str(IVAN), [Text("Sent 2 of 3", key="progress:1")])
    await bot.channel.deliver(str(IVAN), [Text("Sent 2 of 3", key="progress:1")])  # no change
    await bot.channel.deliver(str(IVAN), [Text("Another", key="progress:2")])
    [first, other] = bot.sent(IVAN)
    assert (first.params["text"], other.params["text"]) == ("Sent 0 of 3", "Another")
    edits = bot.sent(IVAN, "editMessageText")
    assert [e.params["text"] for e in edits] == ["Sent 2 of 3", "Sent 2 of 3"]
    assert all(e.params["message_id"] == edits[0].params["message_id"] for e in edits)

    export = tmp_path / "customers.csv"
    export.write_text("card,name\n400000000018,Ivan\n", encoding="utf-8")
    await bot.channel.deliver(str(IVAN), [Document(str(export), "customers.csv", "Customers")])
    [upload] = bot.sent(IVAN, "sendDocument")
    document = upload.files["document"]
    assert (document.filename, upload.params["caption"]) == ("customers.csv", "Customers")
    assert document.data == b"card,name\n400000000018,Ivan\n"
    assert not export.exists()  # sent, then removed from the disk


async def test_a_reply_that_meets_a_flood_limit_waits_and_arrives(bot: Bot):
    """The answer to someone who just wrote is not dropped on a 429: it waits retry_after
    and goes once more (the event was committed already; this is its only answer)."""
    bot.api.fail_next("sendMessage", 429, parameters={"retry_after": 1})
    started = time.monotonic()
    first, second = await bot.step(message_update(1, IVAN, "/start"), 2)
    assert time.monotonic() - started >= 1.0
    assert first.params["text"] == second.params["text"]  # refused, then sent: the welcome
    assert "программа лояльности" in second.params["text"]
    await bot.quiet()


async def test_an_unreachable_telegram_is_retried_while_the_rest_serves(settings, clock, api, caplog):
    """getMe fails at the start: the web chat and the POS API serve meanwhile, the error is
    logged, and Telegram connects on a later attempt by itself."""
    from aiohttp.test_utils import TestClient, TestServer

    api.fail_next("getMe", 500, times=2)
    application = await build(telegram_settings(settings, api, mode="polling"), clock)
    try:
        with caplog.at_level(logging.ERROR):
            await application.connect(first_wait=0.3, backoff=(1.0,))
        assert "telegram can't be reached" in caplog.text
        assert "telegram" in application.unreachable
        async with TestClient(TestServer(application.web)) as client:
            assert (await client.get("/")).status == 200  # the web chat serves
            assert (await client.get("/api/v1/openapi.json")).status == 200
        await api.wait_for("getUpdates", timeout=5)  # connected on the third try
        assert application.unreachable == set()
    finally:
        await application.close()


async def test_a_cashier_finds_the_customer_by_the_contact_they_share_at_the_checkout(bot: Bot, clock):
    """Telegram, as MAX: a customer's contact shared at the checkout is their number."""
    await sign_up(bot)
    async with bot.app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    await bot.step(message_update(10, PETR, f"/start {payload}"), 2)
    await bot.step(message_update(11, PETR, "/checkout"), 1)
    [screen] = await bot.step(contact_update(12, PETR, "+79001234567", contact_user_id=IVAN), 1)
    assert "Покупатель: Ivan" in screen.params["text"], screen.params["text"]
    assert len(await customers(bot.app)) == 1  # the cashier was not led into signing up
