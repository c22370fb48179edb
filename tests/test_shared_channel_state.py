"""What a channel keeps between messages lives in the database, not in one process's memory,
so that several processes on one database serve the same people (issue 15): a Viber
picture link made by one web process is served by another (real processes on PostgreSQL);
a numbered WhatsApp menu shown through one instance is answered through another, and a
picture one uploaded the others send by its media id; a Telegram message one instance sent
with a key is edited in place by another once the first is gone (tests/test_housekeeping.py:
what has expired is pruned)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.app import build
from bot.channels.media import MediaLinks
from bot.channels.viber import MEDIA_PATH, sign
from bot.config import Settings
from bot.core.clock import FrozenClock, SystemClock
from bot.core.keys import derive
from bot.core.replies import Button, Text, keyboard
from bot.storage import database
from bot.storage.uow import UnitOfWork
from tests.chat import ChatUser, channel_info
from tests.fakes import viber_api as callbacks
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.viber_api import FakeViberAPI
from tests.fakes.whatsapp_api import FakeGraphAPI, Sent, payload, text
from tests.support.process import BotProcess
from tests.test_roles import serving
from tests.test_telegram_channel import TOKEN as TELEGRAM_TOKEN
from tests.test_telegram_channel import telegram_settings
from tests.test_viber_channel import IVAN as VIBER_IVAN
from tests.test_viber_channel import TOKEN as VIBER_TOKEN
from tests.test_whatsapp_channel import IVAN as WHATSAPP_IVAN
from tests.test_whatsapp_channel import Bot, running, sign_up

OWNER_CHAT = "1"
# only reached when something is wrong; a start takes ~3-5 s, more while others load the machine
TIMEOUT = 60.0


def shop(url: str) -> Settings:
    return Settings(database={"url": url}, card={"secret": "test-signing-key-0123456789"},
                    shop={"name": "Coffee Point"})


# --- Viber: picture links, two real web processes ----------------------------------------------

def viber_web_process(settings: Settings, workdir: Path, name: str, api: FakeViberAPI) -> BotProcess:
    """``run --role web`` with Viber on; its links name its own address (no public URL)."""
    return BotProcess(settings, workdir, ["run", "--role", "web"], name=name, timeout=TIMEOUT,
                      env={"LOYALTY_VIBER__TOKEN": VIBER_TOKEN, "LOYALTY_VIBER__API_BASE": api.base_url})


async def until_serving(process: BotProcess) -> None:
    """Until /healthz answers; fails, with the log, when the process dies or TIMEOUT passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await serving(process.port):
        if process.exited() or loop.time() > deadline:
            pytest.fail(f"/healthz never answered:\n{process.tail()}")
        await asyncio.sleep(0.2)


async def post_to_viber(port: int, callback: dict[str, Any]) -> None:
    body = json.dumps(callback).encode()
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/viber/webhook", data=body,
            headers={"Content-Type": "application/json",
                     "X-Viber-Content-Signature": sign(VIBER_TOKEN, body)}) as response:
        assert response.status == 200, await response.text()


async def fetch(port: int, path: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}{path}") as response:
        return response.status, response.content_type, await response.read()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_viber_picture_link_made_by_one_web_process_is_served_by_another(
        pg_settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    url = pg_settings.database.url
    member = await build(pg_settings, SystemClock())
    try:
        await ChatUser(member.core, channel_info("viber", verified_contacts=True), VIBER_IVAN).sign_up()
    finally:
        await member.close()
    async with FakeViberAPI(VIBER_TOKEN) as api:
        first = viber_web_process(pg_settings, tmp_path, "first", api)
        second = viber_web_process(pg_settings, tmp_path, "second", api)
        processes += [first, second]
        await asyncio.gather(first.start(), second.start())
        await asyncio.gather(until_serving(first), until_serving(second))

        await post_to_viber(first.port, callbacks.text(VIBER_IVAN, "/card"))
        card = await api.wait_sent(VIBER_IVAN, 2, timeout=TIMEOUT)
        [picture] = [message for message in card if message["type"] == "picture"]
        assert picture["media"].startswith(f"http://127.0.0.1:{first.port}{MEDIA_PATH}/")
        link = path_of(picture["media"])
        status, content_type, image = await fetch(first.port, link)
        assert (status, content_type) == (200, "image/png") and image.startswith(b"\x89PNG\r\n\x1a\n")
        assert await fetch(second.port, link) == (200, "image/png", image)

        forged = link.replace("s=", "s=0")
        assert (await fetch(first.port, forged))[0] == (await fetch(second.port, forged))[0] == 404

        # links to the same picture signed with the installation's key, as of two moments
        engine = database.create_engine(url)
        try:
            def links(clock: FrozenClock) -> MediaLinks:
                key = derive(pg_settings.card.secret.get_secret_value().encode(), "viber-media")
                return MediaLinks(key, "", MEDIA_PATH, clock, timedelta(hours=1),
                                  lambda: UnitOfWork(database.session_factory(engine)))

            now = SystemClock().now()
            expired = await links(FrozenClock(now - timedelta(hours=2))).publish(image)
            fresh = await links(FrozenClock(now)).publish(image)
        finally:
            await engine.dispose()
        assert (await fetch(first.port, expired))[0] == (await fetch(second.port, expired))[0] == 404
        assert await fetch(second.port, fresh) == (200, "image/png", image)
        await asyncio.gather(first.stop(), second.stop())


# --- WhatsApp: numbered menus and uploaded media, two instances ---------------------------------

@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI() as server:
        yield server


async def everything_sent(bot: Bot, body: str) -> list[Sent]:
    """What one typed message makes the bot send, however many messages that is."""
    before = len(bot.api.sent)
    assert await bot.post(payload(WHATSAPP_IVAN, text(body))) == 200
    await bot.channel.idle()
    return bot.api.sent[before:]


async def test_a_whatsapp_menu_shown_by_one_instance_is_answered_through_another(
        any_db_url: str, clock: FrozenClock, graph: FakeGraphAPI):
    instance = contextlib.asynccontextmanager(running)
    async with instance(shop(any_db_url), clock, graph) as first, \
            instance(shop(any_db_url), clock, graph) as second:
        [welcome] = await sign_up(first)
        assert welcome.type == "text" and "1. 💳 Карта" in welcome.text  # the numbered main menu

        card = await second.say(text("1"), 2)  # «1» is the card, on the other instance too
        image = next(s for s in card if s.type == "image")
        [upload] = graph.uploads
        assert upload.data.startswith(b"\x89PNG")

        again = await first.say(text("/card"), 2)  # uploaded by the other one: sent by its id
        assert next(s for s in again if s.type == "image").body["image"]["id"] == image.body["image"]["id"]
        assert len(graph.uploads) == 1

        after = await everything_sent(first, "1")  # the menu answered the message after it only
        assert "Не совсем понял" in after[0].text and all(s.type != "image" for s in after)

        # a menu the outbox sends (a worker's), answered on a web instance
        others = [[Button(f"Вариант {n}", f"nothing:{n}")] for n in range(1, 11)]
        await first.channel.deliver(WHATSAPP_IVAN, [Text("Выберите", keyboard(
            *others, [Button("Баланс", "balance")]))])
        assert "11. Баланс" in graph.sent[-1].text
        [balance] = await second.say(text("11"), 1)
        assert "100" in balance.text


# --- Telegram: a keyed message, edited by another instance --------------------------------------

async def test_a_keyed_telegram_message_sent_by_one_instance_is_edited_by_another(
        any_db_url: str, clock: FrozenClock):
    async with FakeBotAPI(token=TELEGRAM_TOKEN) as api:
        settings = telegram_settings(shop(any_db_url), api)
        first, second = await build(settings, clock), await build(settings, clock)
        try:
            sender = first.channel("telegram")
            assert sender is not None
            await sender.deliver(OWNER_CHAT, [Text("Отправлено 0 из 3", key="progress:7")])
            await sender.deliver(OWNER_CHAT, [Text("Отправлено 1 из 3", key="progress:7")])
        finally:
            await first.close()  # the worker that sent it is gone
        try:
            taker = second.channel("telegram")
            assert taker is not None
            await taker.deliver(OWNER_CHAT, [Text("Отправлено 3 из 3", key="progress:7")])
            await taker.deliver(OWNER_CHAT, [Text("Другая рассылка", key="progress:8")])
        finally:
            await second.close()
    sent = [call.params["text"] for call in api.calls_to("sendMessage")]
    assert sent == ["Отправлено 0 из 3", "Другая рассылка"]  # another key: a message of its own
    by_first, by_second = api.calls_to("editMessageText")
    assert (by_first.params["text"], by_second.params["text"]) == ("Отправлено 1 из 3", "Отправлено 3 из 3")
    assert by_second.params["message_id"] == by_first.params["message_id"]
    assert str(by_second.params["chat_id"]) == OWNER_CHAT
