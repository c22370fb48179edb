"""The Viber adapter end to end: the app built by bot.app.build with a [viber] section, a
real HTTP client posting signed webhook callbacks, viberbot's own models, and the fake
Viber API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import Application, build
from bot.channels import viber as viber_channel
from bot.channels.base import Channel
from bot.channels.viber import ViberChannel, register_webhook, sign
from bot.config import Settings, ViberSettings
from bot.core.clock import FrozenClock
from bot.core.context import ChannelInfo
from bot.core.replies import Text
from bot.delivery.notify import Notification
from bot.loyalty.cards import format_card_number
from bot.marketing import broadcasts
from bot.marketing.reports import trigger_report
from bot.storage.models import (
    Broadcast,
    BroadcastRecipient,
    Customer,
    Identity,
    OutboxMessage,
    TriggerSend,
)
from tests.chat import OWNER, TELEGRAM_LIKE, ChatUser, text_of, with_messenger
from tests.fakes import viber_api as callbacks
from tests.fakes.viber_api import FakeViberAPI
from tests.test_broadcasts import compose, confirm

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
PUBLIC_URL = "https://shop.example.com"
IVAN = "01234567890A="
PHONE = "+79001234567"


def viber_settings(settings: Settings, api: FakeViberAPI, **viber: Any) -> Settings:
    return with_messenger(settings, "viber", ViberSettings(
        token=SecretStr(TOKEN), api_base=api.base_url, **viber), PUBLIC_URL)


@dataclass
class Viber:
    """The running application, an HTTP client to it, and the fake Viber it talks to."""

    app: Application
    channel: ViberChannel
    api: FakeViberAPI
    client: TestClient

    async def post(self, callback: dict[str, Any], signature: str | None = "valid") -> Any:
        body = json.dumps(callback).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Viber-Content-Signature"] = sign(TOKEN, body) if signature == "valid" else signature
        return await self.client.post("/viber/webhook", data=body, headers=headers)

    async def step(self, callback: dict[str, Any], replies: int, user: str = IVAN) -> list[dict[str, Any]]:
        """Post one callback and return the ``replies`` messages it made the bot send."""
        before = len(self.api.sent(user))
        response = await self.post(callback)
        assert response.status == 200
        return (await self.api.wait_sent(user, before + replies))[before:]

    async def press(self, payload: str, replies: int, user: str = IVAN) -> list[dict[str, Any]]:
        return await self.step(callbacks.text(user, "btn:" + payload), replies, user)

    async def open_chat(self, user: str = IVAN, context: str | None = None) -> dict[str, Any]:
        response = await self.post(callbacks.conversation_started(user, context))
        assert response.status == 200
        return await response.json()

    async def link(self, phone: str, user: str = IVAN) -> list[dict[str, Any]]:
        """Join as someone who is a member already through another messenger."""
        await self.open_chat(user)
        await self.press("consent:yes", 1, user)
        return await self.step(callbacks.contact(user, phone), 1, user)

    async def sign_up(self, user: str = IVAN, phone: str = PHONE) -> list[dict[str, Any]]:
        await self.open_chat(user)
        await self.press("consent:yes", 1, user)
        await self.step(callbacks.contact(user, phone), 2, user)
        await self.press("name:profile", 1, user)
        return await self.step(callbacks.text(user, "14.03.1990"), 1, user)


@pytest.fixture
async def api() -> AsyncIterator[FakeViberAPI]:
    async with FakeViberAPI(TOKEN) as server:
        yield server


async def running(settings: Settings, clock: FrozenClock, api: FakeViberAPI) -> AsyncIterator[Viber]:
    application = await build(settings, clock)
    client = TestClient(TestServer(application.web))
    await client.start_server()
    try:
        channel = application.channel("viber")
        assert isinstance(channel, ViberChannel)
        await channel.start()
        yield Viber(application, channel, api, client)
    finally:
        await client.close()
        await application.close()


@pytest.fixture
async def viber(settings: Settings, clock: FrozenClock, api: FakeViberAPI) -> AsyncIterator[Viber]:
    async for bot in running(viber_settings(settings, api), clock, api):
        yield bot


@pytest.fixture
async def no_marketing(settings: Settings, clock: FrozenClock, api: FakeViberAPI) -> AsyncIterator[Viber]:
    async for bot in running(viber_settings(settings, api, marketing=False), clock, api):
        yield bot


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return (message.get("keyboard") or {}).get("Buttons", [])


def actions(message: dict[str, Any]) -> list[str]:
    return [b["ActionBody"] for b in buttons(message)]


async def customers(app: Application) -> list[Customer]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer))).scalars())


async def identity(app: Application, external_id: str = IVAN) -> Identity | None:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Identity).where(
            Identity.channel == "viber", Identity.external_id == external_id))).scalar_one_or_none()


async def notify(app: Application, customer_id: int, text: str, category: str = "marketing") -> int:
    """Queue a message to a customer as a trigger or a broadcast does; how many were queued."""
    async with app.core.unit_of_work() as uow:
        queued = await app.core.notifier.enqueue(
            uow, [Notification(lambda t: [Text(text)], customer_id=customer_id, category=category)],
            app.core.services.clock.now())
        await uow.commit()
    return queued


# --- the customer's journey -----------------------------------------------------------------

async def test_start_reads_the_chat_uri_for_deep_links(viber: Viber):
    assert [r.endpoint for r in viber.api.requests] == ["get_account_info"]
    assert viber.channel.info().deep_link("ref_ab") == "viber://pa?chatURI=coffeepoint&context=ref_ab"
    assert viber.channel.info().verified_contacts


async def test_the_whole_journey_through_viber(viber: Viber):
    welcome = await viber.open_chat(context="flyer_march")
    assert welcome["type"] == "text" and "Coffee Point" in welcome["text"]
    assert welcome["sender"] == {"name": "Coffee Point"}
    assert "btn:consent:yes" in actions(welcome)
    assert viber.api.sent() == []  # the welcome is the webhook's answer, free of charge

    [ask] = await viber.press("consent:yes", 1)
    assert "Поделитесь номером" in ask["text"]
    assert ask["min_api_version"] == 3
    assert [b["ActionType"] for b in buttons(ask)] == ["share-phone"]

    saved, name_prompt = await viber.step(callbacks.contact(IVAN, "79001234567"), 2)
    assert "Спасибо, номер сохранён" in saved["text"]
    assert "btn:name:profile" in actions(name_prompt)
    [birthday] = await viber.press("name:profile", 1)
    assert "день рождения" in birthday["text"]
    [menu] = await viber.step(callbacks.text(IVAN, "14.03.1990"), 1)
    assert "Добро пожаловать в программу, Ivan Petrov!" in menu["text"]
    assert {"btn:card", "btn:balance", "btn:settings"} <= set(actions(menu))
    assert all(b["ActionType"] == "reply" and b["Silent"]
               for b in buttons(menu) if b["ActionBody"].startswith("btn:"))

    [customer] = await customers(viber.app)
    assert customer.phone == PHONE and customer.phone_verified
    assert customer.source == "flyer_march"  # the deep link's context survived the welcome

    card = await viber.press("card", 2)
    picture = card[0]
    assert picture["type"] == "picture"
    url = urlsplit(picture["media"])
    assert picture["media"].startswith(PUBLIC_URL + "/viber/media/")
    image = await viber.client.get(f"{url.path}?{url.query}")
    assert image.status == 200 and image.content_type == "image/png"
    assert (await image.read()).startswith(b"\x89PNG\r\n\x1a\n")
    assert format_card_number(customer.card_number) in picture["text"] + card[1].get("text", "")
    forged = await viber.client.get(f"{url.path}?{url.query.replace('s=', 's=0')}")
    assert forged.status == 404

    [balance] = await viber.press("balance", 1)
    assert "100" in balance["text"]
    assert "Приветственный бонус" in balance["text"] or "+100" in balance["text"]
    [settings] = await viber.press("settings", 1)
    assert actions(settings)


async def test_a_typed_text_is_not_a_button(viber: Viber):
    await viber.open_chat()
    hint, again = await viber.step(callbacks.text(IVAN, "consent:yes"), 2)
    assert "«Даю согласие»" in hint["text"]
    assert "btn:consent:yes" in actions(again)
    assert (await identity(viber.app)).consent_at is None  # type: ignore[union-attr]


# --- the webhook's signature ------------------------------------------------------------------

@pytest.mark.parametrize("signature", [None, "", "0" * 64, "forged"])
async def test_a_forged_or_missing_signature_is_refused(viber: Viber, signature: str | None):
    response = await viber.post(callbacks.conversation_started(IVAN, "x"), signature=signature)
    assert response.status == 403
    response = await viber.post(callbacks.text(IVAN, "/start"), signature=signature)
    assert response.status == 403
    assert await identity(viber.app) is None
    assert viber.api.sent() == []


async def test_a_body_changed_after_signing_is_refused(viber: Viber):
    body = json.dumps(callbacks.text(IVAN, "/start")).encode()
    response = await viber.client.post("/viber/webhook", data=body.replace(b"/start", b"/card"),
                                       headers={"X-Viber-Content-Signature": sign(TOKEN, body)})
    assert response.status == 403
    assert await identity(viber.app) is None


async def test_webhook_check_and_unknown_events_get_200(viber: Viber):
    check = {"event": "webhook", "timestamp": callbacks.TIMESTAMP, "message_token": 1}
    assert (await viber.post(check)).status == 200
    assert (await viber.post({"event": "client_status", "timestamp": 1})).status == 200


# --- reachability and the outbox --------------------------------------------------------------

async def test_unsubscribed_is_unreachable_and_not_sent_to(viber: Viber):
    await viber.sign_up()
    [customer] = await customers(viber.app)
    assert (await viber.post(callbacks.unsubscribed(IVAN))).status == 200
    assert not (await identity(viber.app)).reachable  # type: ignore[union-attr]
    assert await notify(viber.app, customer.id, "Points for you", "service") == 0

    await viber.step(callbacks.text(IVAN, "hi"), 1)  # writing again subscribes them again
    assert (await identity(viber.app)).reachable  # type: ignore[union-attr]


async def test_a_trigger_message_goes_through_the_outbox_to_viber(viber: Viber):
    await viber.sign_up()
    [customer] = await customers(viber.app)
    before = len(viber.api.sent(IVAN))
    assert await notify(viber.app, customer.id, "We miss you! +300 points") == 1
    assert await viber.app.outbox.send_due() == 1
    [message] = viber.api.sent(IVAN)[before:]
    assert message["text"] == "We miss you! +300 points"
    assert message["sender"]["name"] == "Coffee Point"


async def test_reports_count_the_paid_viber_messages(viber: Viber):
    await viber.sign_up()
    [customer] = await customers(viber.app)
    now = viber.app.core.services.clock.now()
    async with viber.app.core.unit_of_work() as uow:
        [row] = await viber.app.core.notifier.enqueue_one(
            uow, Notification(lambda t: [Text("We miss you")], customer_id=customer.id,
                              category="marketing"), now)
        uow.session.add(TriggerSend(customer_id=customer.id, trigger="win_back_30", episode="e",
                                    held_out=False, outbox_message_id=row.id, created_at=now))
        broadcast = Broadcast(status="done", text="Sale", audience=1, created_at=now,
                              confirmed_at=now)
        uow.session.add(broadcast)
        await uow.session.flush()
        uow.session.add(BroadcastRecipient(broadcast_id=broadcast.id, customer_id=customer.id,
                                           outbox_message_id=row.id, created_at=now,
                                           written_at=now))
        await uow.commit()
    assert await viber.app.outbox.send_due() == 1
    async with viber.app.core.unit_of_work() as uow:
        [stats] = await trigger_report(uow, now - timedelta(days=1), now + timedelta(days=1))
        assert (stats.delivered, stats.paid) == (1, 1)
        result = await broadcasts.report(uow, broadcast, viber.app.settings)
        assert (result.progress.sent, result.paid) == (1, 1)


async def test_viber_status_codes_in_the_outbox(viber: Viber, monkeypatch):
    await viber.sign_up()
    [customer] = await customers(viber.app)
    monkeypatch.setattr(viber_channel, "RETRY_SECONDS", 0.2)  # the pause, kept short here
    viber.api.fail("send_message", 12)  # tooManyRequests: later, not a failure
    await notify(viber.app, customer.id, "one", "service")
    await viber.app.outbox.send_due()
    async with viber.app.core.unit_of_work() as uow:
        [row] = (await uow.session.execute(select(OutboxMessage))).scalars()
        assert (row.status, row.attempts) == ("pending", 0)

    viber.api.unsubscribed.add(IVAN)  # receiverNotSubscribed: unreachable
    viber.app.core.services.clock.advance(seconds=60)  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)  # the channel's pause is over
    await viber.app.outbox.send_due()
    async with viber.app.core.unit_of_work() as uow:
        [row] = (await uow.session.execute(select(OutboxMessage))).scalars()
        assert row.status == "blocked"
    assert not (await identity(viber.app)).reachable  # type: ignore[union-attr]


class Recorded(Channel):
    """Another messenger the customer uses, as far as the outbox can tell."""

    name = "telegram"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def info(self) -> ChannelInfo:
        return TELEGRAM_LIKE

    async def send_text(self, recipient: str, reply: Text) -> None:
        self.texts.append(reply.text)


async def test_marketing_off_skips_viber_for_the_next_channel(no_marketing: Viber):
    viber = no_marketing
    telegram = viber.app.core.notifier.channels["telegram"] = Recorded()  # the shared registry
    person = ChatUser(viber.app.core, TELEGRAM_LIKE, "500", flush=viber.app.outbox.send_due)
    await person.sign_up(phone=PHONE)
    viber.app.core.services.clock.advance(hours=1)  # type: ignore[attr-defined]
    await viber.link(PHONE)  # the same customer, Viber used most recently
    [customer] = await customers(viber.app)
    before = len(viber.api.sent(IVAN))

    assert await notify(viber.app, customer.id, "Service goes to Viber", "service") == 1
    assert await notify(viber.app, customer.id, "Marketing goes elsewhere") == 1
    async with viber.app.core.unit_of_work() as uow:
        rows = (await uow.session.execute(select(OutboxMessage.channel, OutboxMessage.category)
                                          .order_by(OutboxMessage.id))).all()
    assert [tuple(r) for r in rows] == [("viber", "service"), ("telegram", "marketing")]
    await viber.app.outbox.send_due()
    assert [m["text"] for m in viber.api.sent(IVAN)[before:]] == ["Service goes to Viber"]
    assert telegram.texts[-1] == "Marketing goes elsewhere"


async def test_marketing_off_and_viber_only_reaches_nobody(no_marketing: Viber):
    await no_marketing.sign_up()
    [customer] = await customers(no_marketing.app)
    assert await notify(no_marketing.app, customer.id, "Marketing") == 0


# --- one person across channels ---------------------------------------------------------------

async def test_the_same_verified_phone_is_the_same_customer(viber: Viber):
    person = ChatUser(viber.app.core, TELEGRAM_LIKE, "500", flush=viber.app.outbox.send_due)
    await person.sign_up(phone=PHONE)
    [before] = await customers(viber.app)

    [linked] = await viber.link(PHONE)
    assert "Welcome back" in linked["text"] or "С возвращением" in linked["text"]
    [after] = await customers(viber.app)
    assert after.id == before.id and after.card_number == before.card_number
    assert (await identity(viber.app)).customer_id == before.id  # type: ignore[union-attr]
    [balance] = await viber.press("balance", 1)
    assert "100" in balance["text"]


async def test_a_typed_phone_in_viber_links_nobody(viber: Viber):
    person = ChatUser(viber.app.core, TELEGRAM_LIKE, "500", flush=viber.app.outbox.send_due)
    await person.sign_up(phone=PHONE)
    await viber.open_chat()
    await viber.press("consent:yes", 1)
    saved, _name = await viber.step(callbacks.text(IVAN, PHONE), 2)  # taken, unverified
    assert "номер сохранён" in saved["text"]
    theirs = (await identity(viber.app)).customer_id  # type: ignore[union-attr]
    assert len(await customers(viber.app)) == 2  # a card of their own, not the Telegram one
    [typed] = [c for c in await customers(viber.app) if c.id == theirs]
    assert not typed.phone_verified


# --- set-up -----------------------------------------------------------------------------------

async def test_set_webhook_registers_the_public_url(api: FakeViberAPI, settings: Settings):
    configured = viber_settings(settings, api)
    events = await register_webhook(configured.viber, configured.web.base_url())
    assert api.webhook_url == PUBLIC_URL + "/viber/webhook"
    assert {"conversation_started", "message", "unsubscribed"} <= set(events)


async def test_viber_is_off_without_its_token(settings: Settings, clock: FrozenClock):
    application = await build(settings, clock)
    try:
        assert application.channel("viber") is None
    finally:
        await application.close()


async def test_identity_count_is_one_per_person(viber: Viber):
    await viber.open_chat()
    await viber.open_chat()
    async with viber.app.core.unit_of_work() as uow:
        count = (await uow.session.execute(select(func.count()).select_from(Identity))).scalar_one()
    assert count == 1


async def test_the_set_webhook_command(api: FakeViberAPI, db_url: str, tmp_path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "LOYALTY_DATABASE__URL": db_url, "LOYALTY_VIBER__TOKEN": TOKEN,
           "LOYALTY_VIBER__API_BASE": api.base_url, "LOYALTY_WEB__PUBLIC_URL": PUBLIC_URL}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "viber", "set-webhook", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert api.webhook_url == PUBLIC_URL + "/viber/webhook"
    assert "viber webhook set to https://shop.example.com/viber/webhook" in out.decode()

    api.fail("set_webhook", 1)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "viber", "set-webhook", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    assert process.returncode == 1 and "status 1" in err.decode()


# --- a broadcast, and deleting the data --------------------------------------------------------

async def test_an_owners_broadcast_reaches_a_viber_customer(viber: Viber):
    viber.app.settings.admins = [f"telegram:{OWNER}"]
    owner = ChatUser(viber.app.core, TELEGRAM_LIKE, OWNER)
    await viber.sign_up()
    before = len(viber.api.sent(IVAN))
    await confirm(owner, await compose(owner, "Скидка 20% до воскресенья", button=None))
    await broadcasts.advance(viber.app.core)
    assert await viber.app.outbox.send_due() >= 1
    [message] = (await viber.api.wait_sent(IVAN, before + 1))[before:]
    assert message["type"] == "text" and "Скидка 20% до воскресенья" in message["text"]
    [unsubscribe] = message["keyboard"]["Buttons"]
    assert (unsubscribe["Text"], unsubscribe["ActionBody"]) == ("🔕 Отписаться", "btn:unsub:1")
    [done] = await viber.press("unsub:1", 1)
    assert done["text"].startswith("🔕 Готово: «Акции и новости»")
    assert [c.notify_promotions for c in await customers(viber.app)] == [False]
    [sent] = list(await all_broadcasts(viber.app))
    report = await broadcast_report(viber.app, sent)
    assert report.paid == 1  # a bot-initiated Viber message: paid


async def test_deleting_the_data_in_viber_deletes_it_in_every_messenger(viber: Viber):
    telegram = ChatUser(viber.app.core, TELEGRAM_LIKE, "500", flush=viber.app.outbox.send_due)
    await telegram.sign_up(phone=PHONE)
    await viber.link(PHONE)
    await viber.press("settings:delete", 1)
    await viber.press("settings:delete:confirm", 1)
    assert await customers(viber.app) == []
    async with viber.app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(Identity))).scalars().all() == []
    greeting = text_of(await telegram.send("/balance"))  # a newcomer there now too
    assert greeting.startswith("Здравствуйте! Это программа лояльности")


async def all_broadcasts(app: Application) -> list[Broadcast]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Broadcast))).scalars())


async def broadcast_report(app: Application, broadcast: Broadcast) -> broadcasts.Report:
    async with app.core.unit_of_work() as uow:
        return await broadcasts.report(uow, broadcast, app.settings)
