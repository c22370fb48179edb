"""The MAX adapter end to end: the app built by bot.app.build with a [max] section, the real
client (bot/channels/max.py) against the fake MAX Bot API on 127.0.0.1, which checks the
documented request shapes; updates posted to the webhook with its secret, or taken by long
polling."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import Application, build
from bot.channels import max as max_channel
from bot.channels.max import MaxChannel
from bot.config import MaxSettings, Settings
from bot.console.invites import create_invite
from bot.core.clock import FrozenClock
from bot.core.replies import Document, Text
from bot.delivery.notify import Notification
from bot.loyalty.cards import format_card_number
from bot.storage.models import Customer, Identity, OutboxMessage
from tests.chat import TELEGRAM_LIKE, ChatUser, with_messenger
from tests.fakes import max_api as updates
from tests.fakes.max_api import FakeMaxAPI, Sent

TOKEN = "f9LHodD0cOKE2x3Z-mXbm7pB3tJ8rT"
SECRET = "shop-webhook-secret-42"
PUBLIC_URL = "https://shop.example.com"
IVAN, PETR, KATE, OWNER = "101", "202", "303", "500"
PHONE = "+79001234567"
REPOSITORY = Path(__file__).resolve().parent.parent  # the bot a subprocess runs: this one


def max_settings(settings: Settings, api: FakeMaxAPI, **section: Any) -> Settings:
    section.setdefault("mode", "webhook")
    return with_messenger(settings, "max", MaxSettings(
        token=SecretStr(TOKEN), api_base=api.base_url, **section), PUBLIC_URL)


@dataclass
class Max:
    """The running application, an HTTP client to its webhook, and the fake MAX."""

    app: Application
    channel: MaxChannel
    api: FakeMaxAPI
    client: TestClient

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {"X-Max-Bot-Api-Secret": secret} if secret is not None else {}
        response = await self.client.post("/max/webhook", json=update, headers=headers)
        await response.read()
        return response.status

    async def step(self, update: dict[str, Any], user: str = IVAN) -> list[Sent]:
        """Post one update; the messages it made the bot send to ``user``."""
        before = len(self.api.sent(user))
        assert await self.post(update) == 200
        await self.channel.idle()
        return self.api.sent(user)[before:]

    async def send(self, text: str, user: str = IVAN) -> list[Sent]:
        return await self.step(updates.message(user, text), user)

    async def press(self, payload: str, user: str = IVAN) -> list[Sent]:
        return await self.step(updates.callback(user, payload), user)

    async def start(self, user: str = IVAN, payload: str | None = None, **kw: Any) -> list[Sent]:
        return await self.step(updates.bot_started(user, payload, **kw), user)

    async def sign_up(self, user: str = IVAN, phone: str = PHONE, payload: str | None = None) -> list[Sent]:
        await self.start(user, payload)
        await self.press("consent:yes", user)
        await self.step(updates.contact(user, phone, owner=user), user)
        await self.press("name:profile", user)
        return await self.send("14.03.1990", user)


@pytest.fixture
async def api() -> AsyncIterator[FakeMaxAPI]:
    async with FakeMaxAPI(TOKEN) as server:
        yield server


async def running(settings: Settings, clock: FrozenClock, api: FakeMaxAPI) -> AsyncIterator[Max]:
    application = await build(settings, clock)
    client = TestClient(TestServer(application.web))
    await client.start_server()
    try:
        channel = application.channel("max")
        assert isinstance(channel, MaxChannel)
        await channel.start()
        yield Max(application, channel, api, client)
        assert api.refused == []  # every request had the shape MAX documents
    finally:
        await client.close()
        await application.close()


@pytest.fixture
async def bot(settings: Settings, clock: FrozenClock, api: FakeMaxAPI) -> AsyncIterator[Max]:
    async for running_bot in running(max_settings(settings, api, webhook_secret=SecretStr(SECRET)),
                                     clock, api):
        yield running_bot


@pytest.fixture
async def staffed(settings: Settings, clock: FrozenClock, api: FakeMaxAPI) -> AsyncIterator[Max]:
    """The shop's owner is max:500."""
    configured = max_settings(settings.model_copy(update={"admins": [f"max:{OWNER}"]}), api,
                              webhook_secret=SecretStr(SECRET))
    async for running_bot in running(configured, clock, api):
        yield running_bot


async def customers(app: Application) -> list[Customer]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer).order_by(Customer.id))).scalars())


async def identity(app: Application, external_id: str = IVAN) -> Identity | None:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Identity).where(
            Identity.channel == "max", Identity.external_id == external_id))).scalar_one_or_none()


async def outbox_rows(app: Application) -> list[OutboxMessage]:
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def notify(app: Application, customer_id: int, text: str, category: str = "marketing") -> int:
    async with app.core.unit_of_work() as uow:
        queued = await app.core.notifier.enqueue(
            uow, [Notification(lambda t: [Text(text)], customer_id=customer_id, category=category)],
            app.core.services.clock.now())
        await uow.commit()
    return queued


def the(payloads: list[str], prefix: str) -> str:
    [payload] = [p for p in payloads if p.startswith(prefix)]
    return payload


# --- the customer's journey ------------------------------------------------------------------

async def test_the_whole_journey_through_max(bot: Max, monkeypatch):
    [greeting] = await bot.start(payload="flyer_march")
    assert "Coffee Point" in greeting.text and "consent:yes" in greeting.payloads()
    assert await customers(bot.app) == []  # nothing personal before the consent

    [ask] = await bot.press("consent:yes")
    assert "Поделитесь номером" in ask.text
    assert [b["type"] for b in ask.buttons()] == ["request_contact"]
    assert ask.buttons()[0]["text"] == "📱 Поделиться номером"

    saved, name_prompt = await bot.step(updates.contact(IVAN, "79001234567", owner=IVAN))
    assert "Спасибо, номер сохранён" in saved.text
    assert "name:profile" in name_prompt.payloads()
    assert "Ivan Petrov" in name_prompt.buttons()[0]["text"]  # the MAX profile's name
    [birthday] = await bot.press("name:profile")
    assert "день рождения" in birthday.text
    [menu] = await bot.send("14.03.1990")
    assert "Добро пожаловать в программу, Ivan Petrov!" in menu.text
    assert {"card", "balance", "friends", "settings"} <= set(menu.payloads())
    assert all(b["type"] in ("callback", "link") for b in menu.buttons())

    [customer] = await customers(bot.app)
    assert customer.phone == PHONE and customer.phone_verified
    assert customer.source == "flyer_march"  # the deep link's payload, from bot_started
    assert (customer.birth_day, customer.birth_month, customer.birth_year) == (14, 3, 1990)

    # the card: a QR picture uploaded first, then sent by its token, with the caption
    drawn: list[str] = []
    png = bot.app.core.services.qr.png
    monkeypatch.setattr(bot.app.core.services.qr, "png", lambda link: drawn.append(link) or png(link))
    [card] = await bot.press("card")
    [upload] = bot.api.uploads
    assert upload.kind == "image" and upload.data.startswith(b"\x89PNG")
    assert card.kinds() == ["image", "inline_keyboard"]
    assert card.attachments[0]["payload"] == {"token": upload.token}
    assert format_card_number(customer.card_number) in card.text
    assert drawn[0].startswith("https://max.ru/coffee_point_bot?start=card-")

    [balance] = await bot.press("balance")
    assert "100 баллов" in balance.text

    [invite] = await bot.press("friends")
    [link] = [b["url"] for b in invite.buttons() if b["type"] == "link"]
    assert link.startswith("https://max.ru/coffee_point_bot?start=ref-") and link in invite.text

    [status] = await bot.press("status")
    assert "Ваш уровень:" in status.text
    [rewards] = await bot.press("rewards")
    assert "Подарки, которые полностью оплачиваются баллами. Ваш баланс: 100 баллов." in rewards.text
    [settings] = await bot.press("settings")
    assert "settings:delete" in settings.payloads()


async def test_the_journey_in_english(bot: Max):
    [greeting] = await bot.step(updates.bot_started(IVAN, locale="en"))
    assert "loyalty program" in greeting.text and "✅ I agree, join" in [
        b["text"] for b in greeting.buttons()]
    [ask] = await bot.step(updates.callback(IVAN, "consent:yes", locale="en"))
    assert "Please share your phone number with the button below" in ask.text
    assert ask.buttons() == [{"type": "request_contact", "text": "📱 Share my phone number"}]


async def test_a_friends_link_a_source_and_a_staff_invite_arrive_as_start_payloads(bot: Max, clock):
    await bot.sign_up()
    [ivan] = await customers(bot.app)
    [invite] = await bot.press("friends")
    [link] = [b["url"] for b in invite.buttons() if b["type"] == "link"]
    await bot.sign_up(PETR, "+79005550000", payload=link.partition("?start=")[2])
    petr = (await customers(bot.app))[1]
    assert petr.referred_by == ivan.id

    async with bot.app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    hired = await bot.start(KATE, payload)
    assert "Теперь вы кассир" in hired[0].text


async def hire_and_scan(bot: Max, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Kate becomes a cashier by her invite link and scans Ivan's card with her camera (the
    QR code opens the bot with the card's payload); her screen."""
    async with bot.app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    assert "Теперь вы кассир" in (await bot.start(KATE, payload))[0].text
    drawn: list[str] = []
    png = bot.app.core.services.qr.png
    monkeypatch.setattr(bot.app.core.services.qr, "png", lambda link: drawn.append(link) or png(link))
    await bot.press("card")
    assert drawn[0].startswith("https://max.ru/coffee_point_bot?start=card-")
    [screen] = await bot.start(KATE, drawn[0].partition("?start=")[2])
    return screen


async def buy(bot: Max, amount: str) -> Sent:
    """Kate records a purchase of the customer she scanned, earning points; the result."""
    [draft] = await bot.send(amount, KATE)
    summary = await bot.press(the(draft.payloads(), "co.earn:"), KATE)
    done, result = await bot.press(the(summary[-1].payloads(), "co.ok:"), KATE)
    assert done.text == "✅ Записано." and "Начислено: +" in result.text
    return result


async def test_a_cashier_in_max_scans_a_card_the_customer_is_told_and_rates_the_visit(
        bot: Max, clock, monkeypatch):
    await bot.sign_up()
    screen = await hire_and_scan(bot, clock, monkeypatch)
    assert "Покупатель: Ivan Petrov" in screen.text and "Баланс: 100 баллов" in screen.text
    assert "Покупка: 1\xa0500,00\xa0₽" in (await buy(bot, "1500")).text
    before = len(bot.api.sent(IVAN))
    await bot.app.outbox.send_due()
    [notice] = bot.api.sent(IVAN)[before:]
    assert "Спасибо за покупку на 1 500,00 ₽!" in notice.text.replace("\xa0", " ").replace("\u202f", " ")
    [asked] = await bot.press("feedback")  # and the customer rates the visit in MAX
    assert "Оцените от 1 до 5" in asked.text and "review:1:5" in asked.payloads()
    [rated] = await bot.press("review:1:5")
    assert "Спасибо за оценку!\n+20 баллов за отзыв." in rated.text


async def test_a_cashier_finds_the_customer_by_the_contact_they_share_at_the_checkout(
        bot: Max, clock):
    """At the checkout, a shared contact is the customer's number, as if typed: the cashier
    (not a member herself) is not led into signing up, nor is a member told it is not theirs."""
    await bot.sign_up()
    async with bot.app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    await bot.start(KATE, payload)
    for cashier in (KATE, OWNER):
        if cashier == OWNER:  # a member, too
            await bot.sign_up(OWNER, "+79005550000")
            async with bot.app.core.unit_of_work() as uow:
                payload = await create_invite(uow, "cashier", None, clock.now())
                await uow.commit()
            await bot.start(OWNER, payload)
        await bot.send("/checkout", cashier)
        [screen] = await bot.step(updates.contact(cashier, PHONE, owner=IVAN), cashier)
        assert "Покупатель: Ivan Petrov" in screen.text, screen.text
    assert len(await customers(bot.app)) == 2


async def test_a_contact_that_is_not_the_senders_is_an_unverified_phone(bot: Max):
    await bot.start()
    await bot.press("consent:yes")
    saved, _name = await bot.step(updates.contact(IVAN, "+79990000000", owner=PETR))
    assert "Спасибо, номер сохранён" in saved.text
    [customer] = await customers(bot.app)
    assert customer.phone == "+79990000000" and not customer.phone_verified


async def test_a_contact_of_someone_not_on_max_is_not_verified_either(bot: Max):
    await bot.start()
    await bot.press("consent:yes")
    await bot.step(updates.contact(IVAN, "+79990000000", owner=None))
    [customer] = await customers(bot.app)
    assert not customer.phone_verified


async def test_a_typed_phone_is_taken_unverified(bot: Max):
    await bot.start()
    [ask] = await bot.press("consent:yes")
    assert "Можно и ввести его вручную, но введённый номер не подтверждён" in ask.text
    saved, _name = await bot.send("+7 900 123-45-67")
    assert "номер сохранён" in saved.text
    [customer] = await customers(bot.app)
    assert customer.phone == PHONE and not customer.phone_verified


async def test_a_typed_phone_is_verified_later_with_the_request_contact_button(bot: Max):
    await bot.start()
    await bot.press("consent:yes")
    await bot.send(PHONE)
    await bot.press("name:profile")
    await bot.send("14.03.1990")
    [settings] = await bot.press("settings")
    assert "phone.verify" in settings.payloads()
    [ask] = await bot.press("phone.verify")
    assert ask.buttons() == [{"type": "request_contact", "text": "📱 Поделиться номером"}]
    [refused] = await bot.step(updates.contact(IVAN, "+79990000000", owner=PETR))
    assert refused.text.startswith("Это не ваш контакт: подтвердить можно только свой номер.")
    assert not (await customers(bot.app))[0].phone_verified
    [done] = await bot.step(updates.contact(IVAN, PHONE, owner=IVAN))
    assert done.text.startswith("Спасибо, номер телефона подтверждён")
    assert (await customers(bot.app))[0].phone_verified


async def test_a_group_message_and_a_sticker(bot: Max):
    assert await bot.step(updates.message(IVAN, "/start", chat_type="chat")) == []
    answer = await bot.step(updates.message(IVAN, None, [{"type": "sticker", "payload": {
        "url": "https://i.max.ru/s.webp", "code": "x"}}]))
    assert "Я понимаю текст и кнопки" in answer[0].text
    assert "consent:yes" in answer[1].payloads()  # not a member yet: the greeting follows


# --- the owner's console and cashiers' tools in MAX -------------------------------------------

async def test_the_owner_gets_charts_as_pictures_and_exports_as_files(staffed: Max, clock, monkeypatch):
    bot = staffed
    await bot.sign_up()
    await hire_and_scan(bot, clock, monkeypatch)
    await buy(bot, "1500")
    cards = len(bot.api.uploads)
    figures, *charts = await bot.send("/stats", OWNER)
    assert "Участников: 1" in figures.text and figures.kinds() == []
    assert [chart.kinds()[0] for chart in charts] == ["image", "image"]  # weekly, cohorts
    uploaded = bot.api.uploads[cards:]
    assert [u.kind for u in uploaded] == ["image", "image"]
    assert all(u.data.startswith(b"\x89PNG") for u in uploaded)

    [menu] = await bot.send("/export", OWNER)
    assert "ex.file:customers:csv" in menu.payloads()
    [file] = await bot.press("ex.file:customers:csv", OWNER)
    [upload] = [u for u in bot.api.uploads if u.kind == "file"]
    assert file.kinds() == ["file"] and file.attachments[0]["payload"] == {"token": upload.token}
    assert upload.filename.endswith(".csv")
    [customer] = await customers(bot.app)
    assert customer.card_number in upload.data.decode("utf-8-sig")


async def test_a_broadcast_with_a_photo_reaches_max_and_its_progress_is_edited_in_place(staffed: Max):
    bot = staffed
    await bot.sign_up()
    await bot.send("/broadcast", OWNER)
    photo = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
    bot.api.images["sale.jpg"] = photo
    [asked] = await bot.step(updates.image(OWNER, f"{bot.api.base_url}/i/sale.jpg",
                                           "Скидка 20% до воскресенья"), OWNER)
    [groups] = await bot.press(the(asked.payloads(), "bc.groups:"), OWNER)
    [everyone] = [p for p in groups.payloads() if p.startswith("bc.seg:") and p.endswith(":all")]
    [audience] = await bot.press(everyone, OWNER)
    tested = await bot.press(the(audience.payloads(), "bc.test:"), OWNER)
    await bot.press(the(tested[-1].payloads(), "bc.go:"), OWNER)
    from bot.marketing import broadcasts

    for _ in range(3):
        await broadcasts.advance(bot.app.core)
        await bot.app.outbox.send_due()
    [sale] = [m for m in bot.api.sent(IVAN) if "Скидка 20% до воскресенья" in m.text]
    assert sale.kinds()[0] == "image"  # the owner's photo, downloaded from MAX and uploaded again
    [upload] = [u for u in bot.api.uploads if u.token == sale.attachments[0]["payload"]["token"]]
    assert upload.data == photo
    edited = [m for m in bot.api.sent(OWNER) if m.edits]
    assert edited, "the progress line is one message, edited"
    assert bot.api.calls("PUT", "/messages")


async def test_a_keyed_text_is_edited_and_a_document_is_uploaded_from_the_disk(bot: Max, tmp_path):
    await bot.channel.deliver(IVAN, [Text("Sent 0 of 3", key="progress:1")])
    await bot.channel.deliver(IVAN, [Text("Sent 2 of 3", key="progress:1")])
    await bot.channel.deliver(IVAN, [Text("Another", key="progress:2")])
    first, other = bot.api.sent(IVAN)
    assert (first.text, first.edits, other.text) == ("Sent 2 of 3", ["Sent 2 of 3"], "Another")
    [edit] = bot.api.calls("PUT", "/messages")
    assert edit.query == {"message_id": first.mid}

    export = tmp_path / "customers.csv"
    export.write_text("card,name\n400000000018,Ivan\n", encoding="utf-8")
    await bot.channel.deliver(IVAN, [Document(str(export), "customers.csv", "Customers")])
    [upload] = bot.api.uploads
    assert (upload.kind, upload.filename, upload.data) == (
        "file", "customers.csv", b"card,name\n400000000018,Ivan\n")
    assert bot.api.sent(IVAN)[-1].text == "Customers"
    assert not export.exists()


async def test_an_attachment_not_ready_yet_is_sent_again(bot: Max):
    bot.api.not_ready_once = True
    await bot.sign_up()
    [card] = await bot.press("card")
    assert card.kinds()[0] == "image"
    assert [r.status for r in bot.api.calls("POST", "/messages")][-2:] == [400, 200]
    bot.api.refused.clear()  # the not-ready answer is MAX's own, not a broken request


# --- the webhook ----------------------------------------------------------------------------------

async def test_start_subscribes_the_webhook_with_its_secret(bot: Max):
    [subscription] = bot.api.subscriptions
    assert subscription["url"] == PUBLIC_URL + "/max/webhook"
    assert subscription["secret"] == SECRET
    assert set(subscription["update_types"]) >= {"bot_started", "message_created", "message_callback"}
    assert bot.api.calls("GET", "/updates") == []
    assert bot.channel.info().deep_link("x") == "https://max.ru/coffee_point_bot?start=x"
    commands = {c["name"]: c["description"] for c in bot.api.commands}  # the shop's language
    assert {"start", "card", "balance"} <= set(commands) and commands["card"] == "Моя карта"


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "shop-webhook-secret-4"])
async def test_a_forged_webhook_is_refused_and_nothing_is_stored(bot: Max, secret: str | None):
    assert await bot.post(updates.bot_started(IVAN, "ref-x"), secret=secret) == 401
    assert await bot.post(updates.message(IVAN, "/start"), secret=secret) == 401
    await bot.channel.idle()
    assert await identity(bot.app) is None
    assert bot.api.sent() == []


async def test_a_redelivered_update_is_handled_once(bot: Max):
    start = updates.message(IVAN, "/start")
    assert await bot.post(start) == 200
    assert await bot.post(start) == 200  # MAX retries when it saw no answer in time
    await bot.channel.idle()
    assert len(bot.api.sent(IVAN)) == 1
    press = updates.callback(IVAN, "consent:yes")
    await bot.step(press)
    assert await bot.step(press) == []


async def test_webhook_mode_without_a_configured_secret_derives_one(settings, clock, api):
    async for running_bot in running(max_settings(settings, api), clock, api):
        [subscription] = api.subscriptions
        assert len(subscription["secret"]) >= 32
        assert subscription["secret"] == running_bot.channel.webhook_secret
        assert await running_bot.post(updates.message(IVAN, "/start"),
                                      secret=subscription["secret"]) == 200


async def test_the_set_webhook_command(api: FakeMaxAPI, db_url: str, tmp_path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY),
           "LOYALTY_DATABASE__URL": db_url, "LOYALTY_MAX__TOKEN": TOKEN,
           "LOYALTY_MAX__API_BASE": api.base_url, "LOYALTY_WEB__PUBLIC_URL": PUBLIC_URL,
           "LOYALTY_MAX__WEBHOOK_SECRET": SECRET}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "max", "set-webhook", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "max webhook set to https://shop.example.com/max/webhook" in out.decode()
    [subscription] = api.subscriptions
    assert (subscription["url"], subscription["secret"]) == (PUBLIC_URL + "/max/webhook", SECRET)

    api.fail("POST", "/subscriptions", 400, "proto.payload", "url is not reachable")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "max", "set-webhook", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    assert process.returncode == 1 and "url is not reachable" in err.decode()


async def test_a_ca_file_makes_a_certificate_the_system_does_not_know_trusted(tmp_path):
    """MAX's certificate is issued by the Russian Trusted Root CA; ``max.ca_file`` names it."""
    key, certificate = tmp_path / "key.pem", tmp_path / "ca.pem"
    made = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(key), "-out", str(certificate),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await made.wait() == 0
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate, key)
    async with FakeMaxAPI(TOKEN, tls=tls) as server:
        trusting = max_channel.MaxApi(TOKEN, server.base_url, ca_file=str(certificate))
        plain = max_channel.MaxApi(TOKEN, server.base_url)
        try:
            assert (await trusting.call("GET", "/me"))["username"] == "coffee_point_bot"
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await plain.call("GET", "/me")
        finally:
            await trusting.close()
            await plain.close()


async def test_max_is_off_without_its_token(settings: Settings, clock: FrozenClock):
    application = await build(settings, clock)
    try:
        assert application.channel("max") is None
    finally:
        await application.close()


# --- long polling (the default) -----------------------------------------------------------------

@pytest.fixture
async def polling(settings: Settings, clock: FrozenClock, api: FakeMaxAPI) -> AsyncIterator[Max]:
    api.subscriptions.append({"url": "https://old.example.com/hook", "time": 0})
    configured = with_messenger(settings, "max", MaxSettings(
        token=SecretStr(TOKEN), api_base=api.base_url, poll_timeout=1), PUBLIC_URL)
    assert configured.max.mode == "polling"
    async for running_bot in running(configured, clock, api):
        yield running_bot


async def test_polling_takes_updates_by_marker_and_answers(polling: Max):
    bot = polling
    assert bot.api.subscriptions == []  # updates are polled only while no webhook is subscribed
    assert len(bot.api.calls("GET", "/me")) == 1
    bot.api.push(updates.bot_started(IVAN, "flyer"))
    [greeting] = await bot.api.wait_sent(IVAN, 1)
    assert "consent:yes" in greeting.payloads()
    start = updates.callback(IVAN, "consent:yes")
    bot.api.push(start, start)  # the same press twice: one answer
    await bot.api.wait_sent(IVAN, 2)
    taken = len(bot.api.calls("GET", "/updates"))  # the poll that took the presses among them
    polls = await bot.api.wait_for("GET", "/updates", taken + 1)
    await bot.channel.idle()
    assert len(bot.api.sent(IVAN)) == 2
    assert polls[0].query["types"].split(",") == list(max_channel.UPDATE_TYPES)
    assert "marker" not in polls[0].query and polls[-1].query["marker"] == "3"
    assert polls[0].query["timeout"] == "1"
    assert (await identity(bot.app)).source == "flyer"  # type: ignore[union-attr]


async def test_polling_goes_on_after_an_error(polling: Max, monkeypatch):
    monkeypatch.setattr(max_channel, "POLL_ERROR_WAITS", (0.05,))
    polling.api.fail("GET", "/updates", 503, "service.unavailable", times=2)
    polling.api.push(updates.bot_started(IVAN))
    [greeting] = await polling.api.wait_sent(IVAN, 1)
    assert "consent:yes" in greeting.payloads()


async def test_the_token_goes_only_in_the_authorization_header(polling: Max):
    await polling.api.wait_for("GET", "/updates")
    assert polling.api.requests and all(r.status == 200 for r in polling.api.requests)
    assert all("access_token" not in r.query for r in polling.api.requests)
    async with aiohttp.ClientSession() as session:  # what the fake answers otherwise
        for query, headers in (({"access_token": TOKEN}, {}), ({}, {"Authorization": "wrong"})):
            async with session.get(polling.api.base_url + "/me", params=query,
                                   headers=headers) as response:
                assert (response.status, (await response.json())["code"]) == (401, "verify.token")


# --- the outbox: rate limits, blocked users ---------------------------------------------------

async def test_a_429_waits_and_the_message_goes_later(bot: Max, monkeypatch):
    await bot.sign_up()
    [customer] = await customers(bot.app)
    monkeypatch.setattr(max_channel, "RETRY_SECONDS", 0.2)
    bot.api.fail("POST", "/messages", 429, "too.many.requests", "Too many requests")
    before = len(bot.api.sent(IVAN))
    assert await notify(bot.app, customer.id, "We miss you! +300 points") == 1
    await bot.app.outbox.send_due()
    [row] = await outbox_rows(bot.app)
    assert (row.status, row.attempts) == ("pending", 0)  # later, not a failure

    bot.app.core.services.clock.advance(seconds=60)  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)  # the channel's pause is over
    await bot.app.outbox.send_due()
    [row] = await outbox_rows(bot.app)
    assert row.status == "sent"
    assert [m.text for m in bot.api.sent(IVAN)[before:]] == ["We miss you! +300 points"]


async def test_a_reply_that_meets_a_429_waits_and_arrives(bot: Max, monkeypatch):
    monkeypatch.setattr(max_channel, "RETRY_SECONDS", 0.2)
    bot.api.fail("POST", "/messages", 429, "too.many.requests")
    [greeting] = await bot.start()
    assert "consent:yes" in greeting.payloads()


async def test_a_user_who_blocked_the_bot_is_marked_unreachable(bot: Max):
    await bot.sign_up()
    [customer] = await customers(bot.app)
    bot.api.blocked.add(IVAN)
    assert await notify(bot.app, customer.id, "Points for you", "service") == 1
    await bot.app.outbox.send_due()
    [row] = await outbox_rows(bot.app)
    assert row.status == "blocked" and "403" in (row.error or "")
    assert not (await identity(bot.app)).reachable  # type: ignore[union-attr]
    assert await notify(bot.app, customer.id, "Nobody to send to", "service") == 0

    bot.api.blocked.discard(IVAN)
    await bot.start()  # starting the bot again makes them reachable
    assert (await identity(bot.app)).reachable  # type: ignore[union-attr]


async def test_a_stopped_bot_makes_the_person_unreachable(bot: Max):
    await bot.sign_up()
    assert await bot.step(updates.bot_stopped(IVAN)) == []
    assert not (await identity(bot.app)).reachable  # type: ignore[union-attr]


async def test_a_blocked_user_does_not_stop_the_others(bot: Max):
    bot.api.blocked.add(IVAN)
    assert await bot.post(updates.bot_started(IVAN)) == 200
    [greeting] = await bot.start(PETR)
    assert "consent:yes" in greeting.payloads()
    assert await identity(bot.app) is not None  # Ivan's start was processed all the same


# --- one person across messengers --------------------------------------------------------------

async def test_the_same_verified_phone_is_the_same_customer_and_settings_list_max(bot: Max):
    telegram = ChatUser(bot.app.core, TELEGRAM_LIKE, "42", flush=bot.app.outbox.send_due)
    await telegram.sign_up(phone=PHONE)
    [before] = await customers(bot.app)

    await bot.start()
    await bot.press("consent:yes")
    [linked] = await bot.step(updates.contact(IVAN, PHONE, owner=IVAN))
    assert "С возвращением" in linked.text
    [after] = await customers(bot.app)
    assert after.id == before.id and after.card_number == before.card_number
    [balance] = await bot.press("balance")
    assert "100 баллов" in balance.text

    [settings] = await bot.press("settings")
    assert {"settings:via:max", "settings:via:telegram"} <= set(settings.payloads())
    labels = {b["payload"]: b["text"] for b in settings.buttons() if b["type"] == "callback"}
    assert labels["settings:via:max"] == "MAX"
    [chosen] = await bot.press("settings:via:max")
    assert any(b["text"] == "✓ MAX" for b in chosen.buttons())


async def test_settings_in_english_name_max_too(bot: Max):
    telegram = ChatUser(bot.app.core, TELEGRAM_LIKE, "42", language="en")
    await telegram.sign_up(phone=PHONE)
    await bot.step(updates.bot_started(IVAN, locale="en"))
    await bot.step(updates.callback(IVAN, "consent:yes", locale="en"))
    [linked] = await bot.step(updates.contact(IVAN, PHONE, owner=IVAN, locale="en"))
    assert "Welcome back" in linked.text
    [settings] = await bot.step(updates.callback(IVAN, "settings", locale="en"))
    assert "Messages come to the messenger you choose below." in settings.text
    assert "MAX" in [b["text"] for b in settings.buttons()]


def hostile_updates() -> list[Any]:
    """Updates of shapes MAX never sends, as a forger who learnt the secret, or a change
    of MAX's, might: wrong types everywhere, missing parts, absurd numbers."""
    started = updates.bot_started(PETR)
    message = updates.message(PETR, "hi")
    return [
        {}, [], "text", 42, None, {"update_type": None}, {"update_type": ["bot_started"]},
        {**started, "user": None}, {**started, "user": {"user_id": 10 ** 30}},
        {**started, "payload": {"ref": 1}}, {**started, "payload": 7}, {**started, "user_locale": 5},
        {**started, "user": {"user_id": 7, "name": {"x": 1}}},
        {**message, "message": None}, {**message, "message": {"sender": [], "body": []}},
        {**message, "message": {**message["message"], "body": {"mid": 1, "text": {"a": 1}}}},
        {**message, "message": {**message["message"], "body": {"mid": 2, "attachments": "x"}}},
        {**message, "message": {**message["message"], "body": {"mid": 3, "attachments": [
            {"type": "contact", "payload": {"vcf_info": 5, "max_info": "me"}}]}}},
        {**message, "message": {**message["message"], "body": {"mid": 4, "attachments": [
            {"type": "image", "payload": {"url": "file:///etc/passwd"}}]}}},
        {**message, "user_locale": ["ru"]},
        {**updates.callback(PETR, "x"), "callback": {"callback_id": None, "payload": ["menu"],
                                                     "user": updates.user(PETR)}},
        {**updates.callback(PETR, "x"), "callback": "pressed"},
        {"update_type": "bot_stopped", "user": {"user_id": {"id": 1}}},
    ]


async def test_hostile_updates_are_answered_calmly_and_leave_no_traceback(bot: Max, caplog):
    caplog.set_level("INFO")
    for update in hostile_updates():
        assert await bot.post(update) in (200, 400), update
    response = await bot.client.post("/max/webhook", data=b"[" * 200_000,
                                     headers={"X-Max-Bot-Api-Secret": SECRET})
    assert response.status == 400
    response = await bot.client.post("/max/webhook", data=b'{"a": "' + b"x" * 3_000_000 + b'"}',
                                     headers={"X-Max-Bot-Api-Secret": SECRET})
    assert response.status == 413
    response = await bot.client.post("/max/webhook", data=b"{}",
                                     headers={"X-Max-Bot-Api-Secret": "сек\u0440ет"})
    assert response.status == 401
    await bot.channel.idle()
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelname == "ERROR"] == []
    assert [s.text for s in await bot.start(IVAN)]  # and the bot goes on answering
