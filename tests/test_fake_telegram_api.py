"""Self-test of the fake Bot API server against the real aiogram client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)

from tests.fakes.telegram_api import (
    FakeBotAPI,
    UploadedFile,
    callback_update,
    contact_update,
    message_update,
    sticker_update,
)

pytestmark = pytest.mark.asyncio

TOKEN = "123456:TEST-token"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\r\n\x00end"


def make_bot(api: FakeBotAPI, token: str = TOKEN) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    return Bot(token, session=session)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    client = make_bot(api)
    yield client
    await client.session.close()


async def test_get_me_parses(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "loyalty_test_bot", True)
    assert api.base_url.startswith("http://127.0.0.1:")
    assert [c.method for c in api.calls] == ["getMe"]


async def test_send_message_records_text_and_inline_markup(api: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text="Balance", callback_data="balance")]])
    first = await bot.send_message(42, "Привет!", reply_markup=markup)
    second = await bot.send_message(42, "again")
    assert first.text == "Привет!" and first.chat.id == 42 and first.chat.type == "private"
    assert second.message_id == first.message_id + 1
    assert first.reply_markup and first.reply_markup.model_dump() == markup.model_dump()
    call = api.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == "42"
    assert call.params["text"] == "Привет!"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Balance", "callback_data": "balance"}]]}


async def test_send_photo_records_uploaded_bytes(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_photo(7, BufferedInputFile(PNG, "card.png"), caption="Your card")
    assert sent.photo and sent.photo[-1].file_id and sent.caption == "Your card"
    call = api.calls_to("sendPhoto")[0]
    upload = call.files["photo"]
    assert isinstance(upload, UploadedFile)
    assert upload.data == PNG and upload.filename == "card.png"
    assert call.params["photo"] is upload and call.params["caption"] == "Your card"
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == PNG


async def test_reply_keyboard_request_contact_decoded(api: FakeBotAPI, bot: Bot) -> None:
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]],
        resize_keyboard=True, one_time_keyboard=True)
    sent = await bot.send_message(5, "Share your phone", reply_markup=keyboard)
    assert sent.reply_markup is None  # Telegram echoes only inline keyboards
    markup = api.calls_to("sendMessage")[0].params["reply_markup"]
    assert markup["keyboard"][0][0] == {"text": "Share phone", "request_contact": True}
    assert markup["resize_keyboard"] is True


async def test_misc_methods(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert api.calls_to("setMyCommands")[0].params["commands"] == [
        {"command": "start", "description": "Start"}]
    assert await bot.set_webhook("https://example.invalid/hook")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.answer_callback_query("cb-1", text="ok")
    assert await bot.delete_message(5, 10)
    edited = await bot.edit_message_text(text="new", chat_id=5, message_id=10)
    assert not isinstance(edited, bool) and (edited.message_id, edited.text) == (10, "new")
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text="x", callback_data="x")]])
    edited = await bot.edit_message_reply_markup(chat_id=5, message_id=10, reply_markup=markup)
    assert not isinstance(edited, bool) and edited.reply_markup
    assert edited.reply_markup.model_dump() == markup.model_dump()


async def test_wrong_token_is_unauthorized(api: FakeBotAPI) -> None:
    intruder = make_bot(api, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert api.calls == []


async def test_fail_next_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 3",
                  parameters={"retry_after": 3})
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(1, "hi")
    assert info.value.retry_after == 3
    assert (await bot.send_message(1, "hi")).text == "hi"  # only the next call fails
    assert len(api.calls_to("sendMessage")) == 2


async def test_fail_next_forbidden_and_blocked_chat(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", error_code=403)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(1, "hi")
    api.block_chat(77)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(77, "hi")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_photo(77, BufferedInputFile(PNG, "card.png"))
    assert (await bot.send_message(78, "hi")).chat.id == 78


async def test_unknown_method_404(api: FakeBotAPI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False, "error_code": 404, "description": "Not Found: method not found"}
        async with http.post(f"{api.base_url}/bot1:bad/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_json_and_urlencoded_bodies(api: FakeBotAPI) -> None:
    url = f"{api.base_url}/bot{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": 3, "text": "j", "reply_markup": markup}) as r:
            assert (await r.json())["result"]["text"] == "j"
        form = {"chat_id": "4", "text": "[not json]", "reply_markup": json.dumps(markup)}
        async with http.post(url, data=form) as r:
            assert (await r.json())["result"]["chat"]["id"] == 4
    as_json, as_form = api.calls_to("sendMessage")
    assert as_json.params == {"chat_id": 3, "text": "j", "reply_markup": markup}
    assert as_form.params == {"chat_id": "4", "text": "[not json]", "reply_markup": markup}


async def test_get_updates_and_offset(api: FakeBotAPI, bot: Bot) -> None:
    api.push_update(message_update(1, 100, "/start ref_1"))
    api.push_update(contact_update(2, 100, "+79991234567", 100))
    api.push_update(callback_update(3, 100, "balance", message_id=9))
    api.push_update(sticker_update(4, 100))
    updates = await bot.get_updates()
    assert all(isinstance(u, Update) for u in updates)
    assert [u.update_id for u in updates] == [1, 2, 3, 4]
    first, contact, callback, sticker = updates
    assert first.message and first.message.text == "/start ref_1"
    assert first.message.chat.id == first.message.from_user.id == 100  # type: ignore[union-attr]
    assert contact.message and contact.message.contact
    assert contact.message.contact.phone_number == "+79991234567"
    assert contact.message.contact.user_id == 100
    assert callback.callback_query and callback.callback_query.data == "balance"
    assert callback.callback_query.message and callback.callback_query.message.message_id == 9
    assert sticker.message and sticker.message.sticker and sticker.message.text is None
    assert [u.update_id for u in await bot.get_updates(offset=3)] == [3, 4]
    assert [u.update_id for u in await bot.get_updates(offset=1)] == [3, 4]  # 1, 2 confirmed


async def test_get_updates_long_poll(api: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(offset=1, timeout=30) == []
    assert 0.8 < time.monotonic() - started < 3  # capped at max_poll_timeout=1s
    poll = asyncio.create_task(bot.get_updates(offset=1, timeout=30))
    await api.wait_for("getUpdates", count=2)
    api.push_update(message_update(5, 100, "hello"))
    updates = await asyncio.wait_for(poll, 2)
    assert [u.update_id for u in updates] == [5]


async def test_wait_for(api: FakeBotAPI, bot: Bot) -> None:
    waiter = asyncio.create_task(api.wait_for("sendMessage", count=2, timeout=2))
    await bot.send_message(1, "a")
    await bot.send_message(1, "b")
    calls = await waiter
    assert [c.params["text"] for c in calls] == ["a", "b"]
    with pytest.raises(TimeoutError):
        await api.wait_for("sendPhoto", timeout=0.1)


async def test_unknown_file_download_404(api: FakeBotAPI) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{api.base_url}/file/bot{TOKEN}/nope.jpg") as resp:
        assert resp.status == 404


async def test_multipart_direct_file_field(api: FakeBotAPI) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", "9")
    form.add_field("reply_markup", json.dumps({"remove_keyboard": True}))
    form.add_field("photo", PNG, filename="direct.png", content_type="image/png")
    async with aiohttp.ClientSession() as http, \
            http.post(f"{api.base_url}/bot{TOKEN}/sendPhoto", data=form) as resp:
        photo = (await resp.json())["result"]["photo"]
    assert photo[-1]["width"] == 800
    call = api.calls_to("sendPhoto")[0]
    assert call.params["reply_markup"] == {"remove_keyboard": True}
    assert call.params["photo"] == call.files["photo"] == UploadedFile(
        "photo", "direct.png", "image/png", PNG)
