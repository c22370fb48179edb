"""Hostile updates behind a valid signature or secret, on SQLite and on PostgreSQL: what no
messenger sends, but a signed request can still carry (a NUL, a lone surrogate, an id too
long for its column, a number where a string belongs). Each is answered as its sender would
want (the greeting, in their language) or ignored, never with an apology, a 500 or a
traceback; an id the database can't keep stores nothing; a redelivery is answered the same
way, once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import Application, build
from bot.channels.base import BackgroundWork
from bot.channels.max import MaxChannel
from bot.channels.viber import ViberChannel
from bot.channels.viber import sign as viber_sign
from bot.channels.whatsapp import WhatsAppChannel
from bot.core.conversation import clean
from bot.core.events import Event, EventKind, UserRef, platform_id
from bot.storage.models import Identity, ProcessedEvent
from tests.chat import owner_settings
from tests.fakes import max_api as max_updates
from tests.fakes import viber_api as viber_callbacks
from tests.fakes import whatsapp_api as whatsapp_payloads
from tests.fakes.max_api import FakeMaxAPI
from tests.fakes.telegram_api import FakeBotAPI, message_update
from tests.fakes.viber_api import FakeViberAPI
from tests.fakes.whatsapp_api import PHONE_ID, FakeGraphAPI

GREETING = {"ru": "Здравствуйте! Это программа лояльности", "en": "Hello! This is the loyalty program"}
NOT_STORABLE = ["a\u0000b", "\ud800", "x" * 65]  # PostgreSQL refuses a NUL, UTF-8 a surrogate
MAX_SECRET = "max-webhook-secret"


@dataclass
class Shop:
    """The app with all four messengers on one database, their fakes, and an HTTP client."""

    app: Application
    client: TestClient
    telegram: FakeBotAPI
    viber: FakeViberAPI
    whatsapp: FakeGraphAPI
    max: FakeMaxAPI
    crashes: list[BaseException] = field(default_factory=list)

    async def settled(self) -> None:
        """Until every update taken so far is answered (the webhooks answer at once)."""
        for _ in range(3):
            await asyncio.sleep(0.02)
            for channel in self.app.channels:
                if isinstance(channel, (ViberChannel, WhatsAppChannel, MaxChannel)):
                    await channel.idle()
            await self.app.core.drain()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        response = await self.client.post(path, data=body, headers=headers)
        await response.read()
        await self.settled()
        return response.status

    async def to_telegram(self, update: dict[str, Any]) -> int:
        return await self.post("/telegram/webhook", json.dumps(update).encode(), {
            "X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"})

    async def to_viber(self, callback: dict[str, Any]) -> int:
        body = json.dumps(callback).encode()
        return await self.post("/viber/webhook", body,
                               {"X-Viber-Content-Signature": viber_sign("viber-token", body)})

    async def to_whatsapp(self, body: bytes) -> int:
        digest = hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
        return await self.post("/whatsapp/webhook", body, {"X-Hub-Signature-256": f"sha256={digest}"})

    async def to_max(self, update: dict[str, Any]) -> int:
        return await self.post("/max/webhook", json.dumps(update).encode(),
                               {"X-Max-Bot-Api-Secret": MAX_SECRET})

    async def count(self, model: type) -> int:
        async with self.app.core.unit_of_work() as uow:
            return (await uow.session.execute(select(func.count()).select_from(model))).scalar_one()


@pytest.fixture
async def shop(any_db_url: str, clock, monkeypatch) -> AsyncIterator[Shop]:  # type: ignore[no-untyped-def]
    crashes: list[BaseException] = []
    start = BackgroundWork.start

    def watched(self: BackgroundWork, work: Coroutine[Any, Any, None]) -> None:
        """What a webhook left for the background, with the exception that ended it kept
        (in production: «Task exception was never retrieved» and a traceback in the log)."""
        async def run() -> None:
            try:
                await work
            except Exception as error:
                crashes.append(error)
                raise

        start(self, run())

    monkeypatch.setattr(BackgroundWork, "start", watched)
    async with FakeBotAPI("123:ABC") as telegram, FakeViberAPI("viber-token") as viber, \
            FakeGraphAPI() as whatsapp, FakeMaxAPI("max-token") as max_api:
        settings = owner_settings(
            any_db_url,
            telegram={"token": "123:ABC", "mode": "webhook", "webhook_secret": "s3cret",
                      "api_base": telegram.base_url},
            viber={"token": "viber-token", "api_base": viber.base_url},
            whatsapp={"phone_id": PHONE_ID, "token": "t", "app_secret": "app-secret",
                      "verify_token": "v", "api_base": whatsapp.base_url},
            max={"token": "max-token", "mode": "webhook", "webhook_secret": MAX_SECRET,
                 "api_base": max_api.base_url})
        app = await build(settings, clock)
        try:
            async with TestClient(TestServer(app.web)) as client:
                yield Shop(app, client, telegram, viber, whatsapp, max_api, crashes)
        finally:
            await app.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def tracebacks(logs: pytest.LogCaptureFixture) -> list[str]:
    """What was logged as an error or with a traceback."""
    return [r.getMessage() for r in logs.records if r.levelno >= logging.ERROR or r.exc_info]


def greeted(texts: list[str], language: str) -> bool:
    return any(GREETING[language] in text for text in texts)


async def test_a_surrogate_or_a_nul_in_what_a_messenger_reports_is_dropped(shop: Shop, logs):
    """The language, the name and the /start payload as the update has them; the person is
    greeted in their language (the surrogate taken out of "en"), once when redelivered."""
    update = message_update(7, 42, "/start ref\ud800", first_name="Iv\u0000an\ud800",
                            language_code="e\ud800n")
    for _ in range(2):  # Telegram redelivers what it saw no answer to in time
        assert await shop.to_telegram(update) == 200
    ivan = [call.params["text"] for call in shop.telegram.calls_to("sendMessage")]
    assert len(ivan) == 1 and greeted(ivan, "en"), ivan
    assert await shop.to_telegram(message_update(8, 43, "/start", language_code="ru\u0000")) == 200
    assert greeted([shop.telegram.calls_to("sendMessage")[-1].params["text"]], "ru")
    async with shop.app.core.unit_of_work() as uow:
        locales = (await uow.session.execute(select(Identity.messenger_locale)
                                             .order_by(Identity.external_id))).scalars().all()
    assert locales == ["en", "ru"]
    assert tracebacks(logs) == []


async def test_a_private_telegram_message_without_its_sender_is_ignored(shop: Shop, logs):
    """Telegram always names the sender of a private chat's message; a body without one
    failed an assertion in the background (a traceback each time it was redelivered)."""
    update = message_update(9, 42, "/start")
    del update["message"]["from"]
    for _ in range(2):
        assert await shop.to_telegram(update) == 200
    assert shop.telegram.calls_to("sendMessage") == []
    assert await shop.count(Identity) == 0
    assert tracebacks(logs) == []


async def test_an_event_id_too_long_to_keep_still_stops_a_redelivery(shop: Shop, logs):
    """Telegram's update_id is a number of any size to the parser; Viber's token, WhatsApp's
    and MAX's message ids strings of any length or content: kept as their hash."""
    huge = message_update(10 ** 70, 42, "/start")
    started = viber_callbacks.conversation_started("viber-1")
    text = viber_callbacks.text("viber-1", "/help")
    text["message_token"] = "t" * 100
    whatsapp = json.loads(whatsapp_payloads.payload("79001112233", whatsapp_payloads.text("/start")))
    whatsapp["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.\u0000" + "x" * 100
    mid = max_updates.message("101", "/start")
    mid["message"]["body"]["mid"] = "\ud800"
    for _ in range(2):
        assert await shop.to_telegram(huge) == 200
        assert await shop.to_viber(text) == 200
        assert await shop.to_whatsapp(json.dumps(whatsapp).encode()) == 200
        assert await shop.to_max(mid) == 200
    assert len(shop.telegram.calls_to("sendMessage")) == 1
    assert len(shop.viber.sent("viber-1")) == 1
    assert len(shop.whatsapp.sent) == 1 and greeted([shop.whatsapp.sent[0].text], "ru")
    assert len(shop.max.sent("101")) == 1 and greeted([shop.max.sent("101")[0].text], "ru")
    assert (await shop.to_viber(started)) == 200  # the welcome, as the response body
    assert await shop.count(ProcessedEvent) == 5
    assert tracebacks(logs) == [] and shop.crashes == []


@pytest.mark.parametrize("person", [*NOT_STORABLE, 1.5, {"id": 1}],
                         ids=["nul", "surrogate", "too long", "a float", "an object"])
async def test_viber_callbacks_from_an_id_the_database_cant_keep_are_ignored(
        shop: Shop, logs, person: Any):
    """Subscribing and unsubscribing were a 500; a message or an opened chat an apology."""
    callbacks = [viber_callbacks.conversation_started(person), viber_callbacks.text(person, "/start"),
                 {"event": "subscribed", "timestamp": 1, "message_token": 2,
                  "user": viber_callbacks.user(person)},
                 viber_callbacks.unsubscribed(person)]
    for callback in callbacks + callbacks:  # and once more, redelivered
        assert await shop.to_viber(callback) == 200, callback["event"]
    assert shop.viber.sent() == []
    assert await shop.count(Identity) == 0
    assert tracebacks(logs) == [] and shop.crashes == []


async def test_viber_fields_of_another_type_are_read_as_absent(shop: Shop, logs):
    """viberbot checks no types: a number as the language, the text, the phone or the
    picture's address is as if it were not there."""
    response = await shop.client.post("/viber/webhook", data=(body := json.dumps(
        viber_callbacks.conversation_started("viber-2", {"ref": 1}, language=5)).encode()),
        headers={"X-Viber-Content-Signature": viber_sign("viber-token", body)})
    assert response.status == 200 and greeted([(await response.json())["text"]], "ru")
    for message in ({"type": "text", "text": 5}, {"type": "contact", "contact": {"phone_number": 7}},
                    {"type": "picture", "media": {"url": "x"}, "text": []}):
        assert await shop.to_viber(viber_callbacks.message("viber-2", message, name=5)) == 200
    texts = [sent["text"] for sent in shop.viber.sent("viber-2")]
    assert sum("Я понимаю текст и кнопки" in text for text in texts) == 3, texts
    assert all("Я понимаю текст и кнопки" in text or greeted([text], "ru") for text in texts)
    assert tracebacks(logs) == [] and shop.crashes == []


@pytest.mark.parametrize("user_id", ["101", 1.5, True, None, [101], 10 ** 30, -5],
                         ids=["a string", "a float", "true", "null", "a list", "10**30", "negative"])
async def test_max_updates_from_what_is_no_max_user_id_are_ignored(shop: Shop, logs, user_id):
    """A MAX user id is a positive 64-bit number: anything else named nobody the bot could
    answer, yet made an identity (and PostgreSQL refused one too long for its column)."""
    user = {**max_updates.user("101"), "user_id": user_id}
    started = {**max_updates.bot_started("101"), "user": user}
    stopped = {**max_updates.bot_stopped("101"), "user": user}
    message = max_updates.message("101", "/start")
    message["message"]["sender"] = user
    for update in (started, stopped, message, started):
        assert await shop.to_max(update) == 200
    assert shop.max.sent() == []
    assert await shop.count(Identity) == 0
    assert tracebacks(logs) == [] and shop.crashes == []


@pytest.mark.parametrize("text", NOT_STORABLE, ids=["nul", "surrogate", "too long"])
async def test_max_starts_and_stops_from_an_unstorable_id_are_ignored(shop: Shop, logs, text):
    """These ran in the background and died there: the webhook had answered already."""
    for update in ({**max_updates.bot_started("101"), "user": {"user_id": text}},
                   {**max_updates.bot_stopped("101"), "user": {"user_id": text}}):
        assert await shop.to_max(update) == 200
    assert await shop.count(Identity) == 0
    assert tracebacks(logs) == [] and shop.crashes == []


@pytest.mark.parametrize("person", NOT_STORABLE, ids=["nul", "surrogate", "too long"])
async def test_whatsapp_messages_and_statuses_naming_what_the_database_cant_keep(
        shop: Shop, logs, person: str):
    """A sender the database can't keep is skipped like one without an id; a failed
    status with such a message id is not ours."""
    for body in (whatsapp_payloads.payload(person, whatsapp_payloads.text("/start")),
                 whatsapp_payloads.payload(None, whatsapp_payloads.text("/start"), user_id=person),
                 whatsapp_payloads.failed_status(person, 131047, "Re-engagement \u0000message")):
        for _ in range(2):
            assert await shop.to_whatsapp(body) == 200
    assert shop.whatsapp.sent == []
    assert await shop.count(Identity) == 0
    assert tracebacks(logs) == [] and shop.crashes == []


ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=80)  # surrogates too


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=ANY_TEXT, payload=ANY_TEXT, name=ANY_TEXT, language=ANY_TEXT, event_id=ANY_TEXT)
def test_what_the_core_keeps_of_an_event_any_database_can_store(text, payload, name, language,
                                                                 event_id):
    """Whatever a messenger reports: the cleaned event's text encodes as UTF-8 without a
    NUL, and its event id fits its column (the same id always gives the same key)."""
    event = Event(UserRef("telegram", "42", display_name=name, language_code=language),
                  EventKind.BUTTON, text=text, payload=payload, event_id=event_id or None)
    kept = clean(event)
    for value in (kept.text, kept.payload or "", kept.user.display_name or "",
                  kept.user.language_code or ""):
        value.encode("utf-8")  # a lone surrogate would raise UnicodeEncodeError
        assert "\x00" not in value
    if event_id:
        assert platform_id(kept.event_id) == kept.event_id == clean(event).event_id
