"""The WhatsApp adapter end to end: the app built with a [whatsapp] section, signed webhook
posts shaped like the Cloud API's, and the real pywa client against a fake Graph API on
127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import Application, build
from bot.channels.base import RetryLater, Unreachable
from bot.channels.whatsapp import NO_TEMPLATE, WhatsAppChannel
from bot.channels.whatsapp_inbound import OWN_PHONE, incoming
from bot.config import Settings, WhatsAppSettings, WhatsAppTemplate, load_settings
from bot.core.clock import FrozenClock
from bot.core.events import EventKind
from bot.core.replies import Button, Template, Text, keyboard
from bot.loyalty.cards import format_card_number
from bot.marketing import broadcasts
from bot.marketing.templates import catalogue
from bot.marketing.triggers import ORDER, run_pass
from bot.storage.models import Customer, Identity, OutboxMessage, WhatsAppSend
from tests.chat import OWNER, TELEGRAM_LIKE, ChatUser, text_of
from tests.fakes.whatsapp_api import (
    PHONE_ID,
    FakeGraphAPI,
    Sent,
    button_reply,
    contact_card,
    failed_status,
    list_reply,
    payload,
    sign,
    sticker,
    text,
)
from tests.test_broadcasts import compose, confirm

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me-please"
IVAN = "79001234567"
BIRTHDAY_TEMPLATE = WhatsAppTemplate(name="birthday_gift", language="ru",
                                     parameters=["name", "points", "expires_on"])


# --- harness -------------------------------------------------------------------------------

def whatsapp_settings(settings: Settings, api: FakeGraphAPI, **extra: Any) -> Settings:
    return settings.model_copy(update={"whatsapp": WhatsAppSettings(
        phone_id=PHONE_ID, token=SecretStr("EAAG-test-token"), app_secret=SecretStr(APP_SECRET),
        verify_token=SecretStr(VERIFY_TOKEN), api_base=api.base_url, number="+1 555 000 1111",
        **extra)})


@dataclass
class Bot:
    app: Application
    channel: WhatsAppChannel
    api: FakeGraphAPI
    client: TestClient

    async def post(self, body: bytes, signature: str | None = None, signed: bool = True) -> int:
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = signature or sign(body, APP_SECRET)
        response = await self.client.post("/whatsapp/webhook", data=body, headers=headers)
        await response.read()
        return response.status

    async def say(self, message: dict[str, Any], replies: int, wa_id: str | None = IVAN,
                  **sender: Any) -> list[Sent]:
        """Post one message and return the ``replies`` messages it caused (and no more)."""
        before = len(self.api.sent)
        assert await self.post(payload(wa_id, message, **sender)) == 200
        await self.channel.idle()
        sent = self.api.sent[before:]
        assert len(sent) == replies, [s.text for s in sent]
        return sent


@pytest.fixture
async def api() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI() as server:
        yield server


async def running(settings: Settings, clock: FrozenClock, api: FakeGraphAPI,
                  **whatsapp: Any) -> AsyncIterator[Bot]:
    application = await build(whatsapp_settings(settings, api, **whatsapp), clock)
    try:
        channel = application.channel("whatsapp")
        assert isinstance(channel, WhatsAppChannel)
        async with TestClient(TestServer(application.web)) as client:
            yield Bot(application, channel, api, client)
    finally:
        await application.close()


@pytest.fixture
async def bot(settings: Settings, clock: FrozenClock, api: FakeGraphAPI) -> AsyncIterator[Bot]:
    async for running_bot in running(settings, clock, api, templates={"birthday": BIRTHDAY_TEMPLATE}):
        yield running_bot


async def customers(app: Application) -> list[Customer]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer))).scalars())


async def count(app: Application, what: type) -> int:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(func.count()).select_from(what))).scalar_one()


async def outbox(app: Application) -> list[OutboxMessage]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def answer(bot: Bot, sent: Sent, payload_id: str, replies: int, wa_id: str = IVAN) -> list[Sent]:
    """Press a button of ``sent``: a reply button, a list row or, for a numbered text menu,
    type its number."""
    if sent.interactive_type == "button":
        return await bot.say(button_reply(payload_id), replies, wa_id)
    if sent.interactive_type == "list":
        return await bot.say(list_reply(payload_id), replies, wa_id)
    raise AssertionError(f"{sent.text!r} has no buttons")


async def sign_up(bot: Bot, wa_id: str = IVAN) -> list[Sent]:
    """/start → consent → share my number → profile name → birthday; returns the welcome."""
    [greeting] = await bot.say(text("/start"), 1, wa_id)
    await agree(bot, greeting, wa_id)
    await bot.say(button_reply(OWN_PHONE), 2, wa_id)
    await bot.say(text("1"), 1, wa_id)  # the numbered "Use «<profile name>»"
    return await bot.say(text("14.03.1990"), 1, wa_id)


async def agree(bot: Bot, greeting: Sent, wa_id: str = IVAN) -> Sent:
    """Consent, pressed or typed (the greeting may be too long for buttons); returns the
    request for the phone."""
    if greeting.interactive_type:
        [ask] = await answer(bot, greeting, "consent:yes", 1, wa_id)
    else:
        [ask] = await bot.say(text("1"), 1, wa_id)
    return ask


# --- webhook security ----------------------------------------------------------------------

async def test_verification_echoes_the_challenge_only_for_the_verify_token(bot: Bot):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    response = await bot.client.get("/whatsapp/webhook", params=query)
    assert (response.status, await response.text()) == (200, "1158201444")
    response = await bot.client.get("/whatsapp/webhook", params={**query, "hub.verify_token": "nope"})
    assert response.status == 403
    assert "1158201444" not in await response.text()
    response = await bot.client.get("/whatsapp/webhook", params={**query, "hub.mode": "unsubscribe"})
    assert response.status == 403


async def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(bot: Bot):
    body = payload(IVAN, text("/start"))
    assert await bot.post(body, signature=sign(body, "another-secret")) == 403
    assert await bot.post(body, signature="sha256=" + "0" * 64) == 403
    assert await bot.post(body, signed=False) == 403
    assert await bot.post(body + b" ", signature=sign(body, APP_SECRET)) == 403  # body changed
    await bot.channel.idle()
    assert bot.api.sent == []
    assert await count(bot.app, Identity) == 0


async def test_a_redelivered_message_is_answered_once(bot: Bot):
    body = payload(IVAN, text("/start"))
    assert await bot.post(body) == 200
    assert await bot.post(body) == 200
    await bot.channel.idle()
    assert len(bot.api.sent) == 1


async def test_updates_for_another_number_and_statuses_are_ignored(bot: Bot):
    assert await bot.post(payload(IVAN, text("/start"), phone_id="999")) == 200
    await bot.channel.idle()
    assert bot.api.sent == []


# --- the journey -----------------------------------------------------------------------------

async def test_sign_up_card_balance_history_and_settings(bot: Bot):
    [greeting] = await bot.say(text("/start"), 1)
    assert greeting.to == IVAN
    assert "Coffee Point" in greeting.text
    assert "https://example.com/privacy" in greeting.text  # a link button becomes a line

    ask = await agree(bot, greeting)
    assert ask.interactive_type == "button"
    assert ask.payloads == [OWN_PHONE]
    assert "Поделитесь номером" in ask.text

    saved, name_prompt = await bot.say(button_reply(OWN_PHONE), 2)
    assert "Спасибо, номер сохранён" in saved.text
    assert "Как к вам обращаться?" in name_prompt.text
    # "Use «Ivan Petrov»" is too long for a button: a numbered line, answered with its number
    assert name_prompt.type == "text" and "1. " in name_prompt.text

    [birthday] = await bot.say(text("1"), 1)
    assert "день рождения" in birthday.text
    [welcome] = await bot.say(text("14.03.1990"), 1)
    assert "Добро пожаловать в программу, Ivan Petrov!" in welcome.text

    [customer] = await customers(bot.app)
    assert customer.phone == "+79001234567" and customer.phone_verified

    # the card: uploaded once, sent by media id, the same image again by the same id
    card = await bot.say(button_reply("card"), 2)
    image = next(s for s in card if s.type == "image")
    [upload] = bot.api.uploads
    assert upload.data.startswith(b"\x89PNG") and upload.content_type == "image/png"
    media_id = image.body["image"]["id"]
    assert media_id.isdigit()
    assert any(format_card_number(customer.card_number) in s.text for s in card)
    again = await bot.say(text("/card"), 2)
    assert next(s for s in again if s.type == "image").body["image"]["id"] == media_id
    assert len(bot.api.uploads) == 1

    [balance] = await bot.say(text("/balance"), 1)
    assert "100" in balance.text
    history = [p for p in balance.payloads if "history" in p]
    if history:
        [page] = await answer(bot, balance, history[0], 1)
        assert "100" in page.text

    [settings] = await bot.say(text("/settings"), 1)
    assert settings.payloads


async def test_a_contact_card_of_someone_else_does_not_verify_a_phone(bot: Bot):
    [greeting] = await bot.say(text("/start"), 1)
    await agree(bot, greeting)
    refused = await bot.say(contact_card("79990000000"), 2)
    assert "не ваш" in refused[0].text
    # even "shared on request" does not count when it is not the sender's own number
    await bot.say(contact_card("79990000000", origin="contact_request"), 2)
    assert await customers(bot.app) == []
    # typed digits are no proof either
    typed = await bot.say(text("+79990000000"), 2)
    assert "кнопк" in typed[0].text
    assert await customers(bot.app) == []


async def test_a_hidden_number_is_asked_with_the_platforms_own_request(bot: Bot):
    bsuid = "RU.13491208655302741918"
    [greeting] = await bot.say(text("/start"), 1, wa_id=None, user_id=bsuid)
    assert greeting.to == bsuid and greeting.body["recipient"] == bsuid
    if greeting.interactive_type:
        [ask] = await bot.say(button_reply("consent:yes"), 1, wa_id=None, user_id=bsuid)
    else:
        [ask] = await bot.say(text("1"), 1, wa_id=None, user_id=bsuid)
    assert ask.interactive_type == "request_contact_info"
    await bot.say(contact_card("79001112233", origin="contact_request"), 2, wa_id=None, user_id=bsuid)
    [customer] = await customers(bot.app)
    assert customer.phone == "+79001112233" and customer.phone_verified
    async with bot.app.core.unit_of_work() as uow:
        [identity] = (await uow.session.execute(select(Identity))).scalars()
    assert (identity.channel, identity.external_id) == ("whatsapp", bsuid)


async def test_a_sticker_gets_the_unsupported_answer(bot: Bot):
    [greeting] = await bot.say(text("/start"), 1)
    replies = await bot.say(sticker(), 2)
    assert replies[1].text == greeting.text


# --- menus -----------------------------------------------------------------------------------

def menu(count: int, label: str = "Choice") -> Text:
    return Text("Pick one", keyboard(*[[Button(f"{label} {n}", f"pick:{n}")] for n in range(1, count + 1)]))


async def test_menus_are_reply_buttons_a_list_or_numbered_lines(bot: Bot):
    await bot.channel.send(IVAN, [menu(3), menu(10), menu(11), menu(2, label="A rather long button label")])
    buttons, rows, lines, long_labels = bot.api.sent
    assert buttons.interactive_type == "button"
    assert buttons.payloads == ["pick:1", "pick:2", "pick:3"]
    assert rows.interactive_type == "list"
    assert rows.payloads == [f"pick:{n}" for n in range(1, 11)]
    assert lines.type == "text"
    assert "1. Choice 1\n2. Choice 2" in lines.text and "11. Choice 11" in lines.text
    assert long_labels.type == "text"
    assert "2. A rather long button label 2" in long_labels.text


async def test_a_numbered_menu_is_answered_with_the_number_or_the_label(bot: Bot):
    [welcome] = await sign_up(bot)
    assert welcome.type == "text" and "1. 💳 Карта" in welcome.text  # the main menu: too long
    card = await bot.say(text("1"), 2)
    assert any(s.type == "image" for s in card)
    assert card[-1].interactive_type == "button"  # buttons again: numbers mean nothing now
    [menu] = await bot.say(text("/start"), 1)
    label = next(line.split(". ", 1)[1] for line in menu.text.splitlines() if line.startswith("2. "))
    [balance] = await bot.say(text(label.upper()), 1)
    assert "100" in balance.text


# --- the 24-hour window ----------------------------------------------------------------------

def only(settings: Settings, *names: str) -> None:
    settings.triggers.holdout_percent = 0
    for name in ORDER:
        getattr(settings.triggers, name).enabled = name in names


def morning(clock: FrozenClock, days: int) -> datetime:
    at = clock.now() + timedelta(days=days)
    clock.set(at)
    return at


async def test_a_trigger_outside_the_window_is_sent_as_its_template(bot: Bot, clock: FrozenClock):
    only(bot.app.settings, "birthday")
    await sign_up(bot)
    before = len(bot.api.sent)
    [planned] = await run_pass(bot.app.core, morning(clock, 9))  # 9 days later: 3 days ahead
    assert planned.trigger == "birthday"
    assert await bot.app.outbox.send_due() == 1
    [template] = bot.api.sent[before:]
    assert template.type == "template"
    body = template.body["template"]
    assert (body["name"], body["language"]["code"]) == ("birthday_gift", "ru")
    [component] = body["components"]
    values = [p["text"] for p in component["parameters"]]
    assert values[0] == "Ivan Petrov" and "балл" in values[1]
    [row] = [m for m in await outbox(bot.app) if m.category == "marketing"]
    assert row.status == "sent"


async def test_inside_the_window_the_trigger_is_free_form(bot: Bot, clock: FrozenClock):
    only(bot.app.settings, "birthday")
    await sign_up(bot)
    morning(clock, 9)
    await bot.say(text("/balance"), 1)  # the customer writes: the window opens again
    before = len(bot.api.sent)
    await run_pass(bot.app.core, clock.now())
    assert await bot.app.outbox.send_due() == 1
    [message] = bot.api.sent[before:]
    assert message.type == "text" and "Ivan Petrov" in message.text


async def test_the_re_engagement_error_falls_back_to_the_template(bot: Bot, clock: FrozenClock):
    only(bot.app.settings, "birthday")
    await sign_up(bot)
    morning(clock, 9)
    await bot.say(text("/balance"), 1)
    before = len(bot.api.sent)
    bot.api.fail_next(131047, "Re-engagement message")
    await run_pass(bot.app.core, clock.now())
    assert await bot.app.outbox.send_due() == 1
    [template] = bot.api.sent[before:]
    assert template.type == "template" and template.body["template"]["name"] == "birthday_gift"


async def a_trigger_sent_free_form(bot: Bot, clock: FrozenClock) -> OutboxMessage:
    """Ivan wrote today; his birthday message went out as free text and was accepted."""
    only(bot.app.settings, "birthday")
    await sign_up(bot)
    morning(clock, 9)
    await bot.say(text("/balance"), 1)
    await run_pass(bot.app.core, clock.now())
    assert await bot.app.outbox.send_due() == 1
    [row] = [m for m in await outbox(bot.app) if m.category == "marketing"]
    assert row.status == "sent"
    return row


async def sent_ids(bot: Bot, row: OutboxMessage) -> list[str]:
    async with bot.app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(WhatsAppSend.wamid).where(
            WhatsAppSend.outbox_message_id == row.id))).scalars())


async def reported_failed(bot: Bot, wamid: str, row: OutboxMessage, code: int,
                          title: str) -> OutboxMessage:
    """WhatsApp reports later that the message failed; the row as it is then."""
    assert await bot.post(failed_status(wamid, code, title)) == 200
    await bot.channel.idle()
    [after] = [m for m in await outbox(bot.app) if m.id == row.id]
    return after


async def test_a_closed_window_reported_later_sends_the_template(bot: Bot, clock: FrozenClock):
    row = await a_trigger_sent_free_form(bot, clock)
    [wamid] = await sent_ids(bot, row)
    again = await reported_failed(bot, wamid, row, 131047, "Re-engagement message")
    assert again.status == "pending"
    before = len(bot.api.sent)
    assert await bot.app.outbox.send_due() == 1
    [template] = bot.api.sent[before:]
    assert template.type == "template" and template.body["template"]["name"] == "birthday_gift"
    [done] = [m for m in await outbox(bot.app) if m.id == row.id]
    assert done.status == "sent"
    assert (await reported_failed(bot, wamid, row, 131047, "again")).status == "sent"  # once only
    assert len(bot.api.sent) == before + 1


async def test_another_failure_reported_later_marks_the_message_failed(bot: Bot, clock: FrozenClock):
    row = await a_trigger_sent_free_form(bot, clock)
    [wamid] = await sent_ids(bot, row)
    failed = await reported_failed(bot, wamid, row, 131051, "Unsupported message type")
    assert (failed.status, failed.error) == ("failed", "131051 Unsupported message type")


async def test_outside_the_window_without_a_template_the_message_fails_with_the_reason(
        settings: Settings, clock: FrozenClock, api: FakeGraphAPI):
    async for bot in running(settings, clock, api):  # no templates
        only(bot.app.settings, "birthday")
        await sign_up(bot)
        before = len(bot.api.sent)
        await run_pass(bot.app.core, morning(clock, 9))
        assert await bot.app.outbox.send_due() == 0
        assert bot.api.sent[before:] == []
        [row] = [m for m in await outbox(bot.app) if m.category == "marketing"]
        assert (row.status, row.error) == ("failed", NO_TEMPLATE)
        assert row.attempts == 1


async def test_platform_errors_become_retry_later_or_unreachable(bot: Bot):
    await sign_up(bot)
    bot.api.fail_next(130429, "Rate limit hit")
    with pytest.raises(RetryLater):
        await bot.channel.deliver(IVAN, [Text("hi")])
    bot.api.fail_next(131026, "Message undeliverable")
    with pytest.raises(Unreachable):
        await bot.channel.deliver(IVAN, [Text("hi")])
    await bot.channel.deliver(IVAN, [Text("hi"), Template("broadcast", (("text", "hi"),))])
    assert bot.api.sent[-1].text == "hi"  # the hint itself is never sent inside the window


# --- one customer across channels ------------------------------------------------------------

async def test_the_same_verified_number_on_telegram_and_whatsapp_is_one_customer(bot: Bot, chat):  # type: ignore[no-untyped-def]
    telegram = chat("42")
    await telegram.sign_up(phone="+79001234567")
    [customer] = await customers(bot.app)

    [greeting] = await bot.say(text("/start"), 1)
    await agree(bot, greeting)
    [welcome_back] = await bot.say(button_reply(OWN_PHONE), 1)
    assert "Ivan" in welcome_back.text and "привязан" in welcome_back.text
    [same] = await customers(bot.app)
    assert same.id == customer.id
    [balance] = await bot.say(text("/balance"), 1)
    assert "100" in balance.text
    card = await bot.say(text("/card"), 2)
    assert any(format_card_number(customer.card_number) in s.text for s in card)


def test_the_example_whatsapp_section_is_valid(tmp_path):  # type: ignore[no-untyped-def]
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# [whatsapp]")
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line.removeprefix("# "))
    path = tmp_path / "config.toml"
    path.write_text("\n".join(block) + "\n")
    section = load_settings(path).whatsapp
    assert section is not None and section.webhook_path == "/whatsapp/webhook"
    assert section.templates["win_back_30"].parameters == ["name", "balance"]
    assert section.templates["broadcast"].parameters == ["text"]
    known = catalogue()
    assert all(set(template.parameters) <= set(known[key]) for key, template in section.templates.items())


async def test_a_photo_is_downloaded_only_when_asked_for(bot: Bot):
    message = {"type": "image", "image": {"id": "4242", "mime_type": "image/jpeg", "caption": "receipt"}}
    [event] = [m.event for m in incoming(json.loads(payload(IVAN, message)), PHONE_ID,
                                          bot.channel._download)]
    assert (event.kind, event.text) == (EventKind.PHOTO, "receipt")
    assert await event.picture() == b"\xff\xd84242"


# --- a broadcast ------------------------------------------------------------------------------

async def test_a_broadcast_goes_free_form_in_the_window_and_as_its_template_after(
        settings: Settings, clock: FrozenClock, api: FakeGraphAPI):
    news = WhatsAppTemplate(name="shop_news", language="ru", parameters=["text"])
    async for bot in running(settings, clock, api, templates={"broadcast": news}):
        bot.app.settings.admins = [f"telegram:{OWNER}"]
        owner = ChatUser(bot.app.core, TELEGRAM_LIKE, OWNER)
        await sign_up(bot)  # Ivan wrote just now: the window is open

        async def broadcast(message: str, bot: Bot = bot, owner: ChatUser = owner) -> list[Sent]:
            before = len(bot.api.sent)
            await confirm(owner, await compose(owner, message, button=None))
            await broadcasts.advance(bot.app.core)
            await bot.app.outbox.send_due()
            return bot.api.to(IVAN)[-1:] if len(bot.api.sent) > before else []

        [free] = await broadcast("Скидка 20% до воскресенья")
        assert free.interactive_type == "button" and "Скидка 20% до воскресенья" in free.text
        assert free.payloads == ["unsub:1"]  # «🔕 Отписаться»: a reply button of its own
        assert free.body["interactive"]["action"]["buttons"][0]["reply"]["title"] == "🔕 Отписаться"
        clock.set(clock.now() + timedelta(days=2))
        [template] = await broadcast("Новое меню")
        assert template.type == "template" and template.body["template"]["name"] == "shop_news"
        [component] = template.body["template"]["components"]
        assert [p["text"] for p in component["parameters"]] == ["Новое меню"]
        [done] = await answer(bot, free, "unsub:1", 1)  # a tap on the first one, days later
        assert done.text.startswith("🔕 Готово: «Акции и новости»")
        assert [c.notify_promotions for c in await customers(bot.app)] == [False]
        nobody = await compose(owner, "Третья новость", button=None)
        assert "В нём некому отправить" in text_of(nobody)


async def test_a_picture_broadcast_is_two_calls_here(bot: Bot):
    """The picture, then a message with its buttons: the outbox spaces it as two."""
    sale = broadcasts.Broadcast(id=1, text="Скидка", image=b"\xff\xd8picture")
    copy = broadcasts.recipient_replies(sale, Button("🔕 Отписаться", "unsub:1"))
    assert bot.channel.cost(copy) == 2
    assert bot.channel.cost(broadcasts.recipient_replies(
        broadcasts.Broadcast(id=2, text="Скидка"), Button("🔕 Отписаться", "unsub:2"))) == 1


async def test_a_template_key_or_value_no_message_has_is_named_in_the_log_at_start(
        settings: Settings, clock: FrozenClock, api: FakeGraphAPI, caplog):
    caplog.set_level(logging.WARNING, logger="bot.app")
    wrong = {"birthdya": BIRTHDAY_TEMPLATE,
             "win_back_30": WhatsAppTemplate(name="miss_you", parameters=["name", "balanse"]),
             "broadcast": WhatsAppTemplate(name="news", parameters=["text"]), "birthday": BIRTHDAY_TEMPLATE}
    async for _bot in running(settings, clock, api, templates=wrong):
        pass
    warned = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert len(warned) == 2, warned
    assert warned[0].startswith("whatsapp.templates.birthdya: no message has this key")
    assert "birthday" in warned[0] and "broadcast" in warned[0]
    assert warned[1].startswith("whatsapp.templates.win_back_30.parameters: balanse is not among")
    assert warned[1].endswith("(its values: name, balance, points, expires_on, holiday, tier)")
    caplog.clear()
    async for _bot in running(settings, clock, api, templates={"birthday": BIRTHDAY_TEMPLATE}):
        pass
    assert [r for r in caplog.records if r.name == "bot.app"] == []
