"""Web processes behind a load balancer, as real processes on one PostgreSQL: two ``--role web``
processes (A and B) and a ``--role worker``. A conversation goes on whichever process takes
its next message (its state is in the database), in the web chat as in Telegram's webhook.
In the web chat, A message stored for a visitor by any process
reaches their pages in every process at once (LISTEN/NOTIFY), each page once; the outbox
calls it sent when a page of theirs is open somewhere, and keeps it ``waiting`` (shown on
their return, wherever they come back) when none is."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import ClientSession, CookieJar, WSMsgType
from sqlalchemy import select, text

from bot.app import build
from bot.config import Settings
from bot.console.invites import create_invite
from bot.core.clock import SystemClock
from bot.loyalty.cards import format_card_number
from bot.storage import database
from bot.storage.listener import PRESENCE_LOCKS, Listener, presence_key
from bot.storage.models import Customer, OutboxMessage
from bot.storage.uow import UnitOfWork
from tests.fakes.telegram_api import FakeBotAPI, callback_update, contact_update, message_update
from tests.support.process import BotProcess
from tests.test_roles import run_as
from tests.test_telegram_channel import IVAN, PUBLIC_URL, SECRET, TOKEN
from tests.till import PHONE, new_key

STARTING = 60.0  # only reached when something is wrong
LIVE = 3.0  # "at once": a message reaches an open page within this many seconds

Frame = dict[str, Any]


async def started(processes: list[BotProcess], *runs: BotProcess) -> None:
    """Started one after the other (several starting at once are slow on a small machine)."""
    for process in runs:
        processes.append(process)
        await process.start()
        if "web" in process.args:
            await process.until(lambda p=process: "listening on loyalty_web_chat" in p.text(),
                                "the web chat's listener", timeout=STARTING)
        else:
            await process.until(lambda p=process: "scheduler: leading" in p.text(),
                                "the worker", timeout=STARTING)


class Tab:
    """A page of the visitor's browser open on one process (its WebSocket)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, history: list[Frame]) -> None:
        self.ws, self.history = ws, history

    async def next(self, timeout: float = LIVE) -> Frame:
        """The next message (the page's controls skipped)."""
        while True:
            message = await self.ws.receive(timeout=timeout)
            assert message.type is WSMsgType.TEXT, message
            frame = json.loads(message.data)
            if frame["type"] != "ui":
                return frame

    async def until(self, expected: str, timeout: float = LIVE) -> Frame:
        seen = []
        while True:
            frame = await self.next(timeout)
            seen.append(frame.get("text"))
            if expected in (frame.get("text") or ""):
                return frame
            assert len(seen) < 10, f"{expected!r} never came; got {seen}"

    async def nothing_more(self) -> list[Frame]:
        """What else comes within a second (but the page's controls)."""
        frames = []
        try:
            while True:
                frames.append(await self.next(timeout=1.0))
        except TimeoutError:
            return frames

    async def say(self, text: str) -> None:
        await self.ws.send_json({"type": "text", "text": text})

    async def press(self, payload: str) -> None:
        await self.ws.send_json({"type": "button", "payload": payload})


async def open_tab(browser: ClientSession, process: BotProcess, **headers: str) -> Tab:
    """The page on ``process`` (which hands the browser its cookie once) and its WebSocket."""
    base = f"http://127.0.0.1:{process.port}"
    async with browser.get(f"{base}/", headers=headers) as page:
        assert page.status == 200
    ws = await browser.ws_connect(f"{base}/web/ws", headers=headers)
    first = json.loads((await ws.receive(timeout=LIVE)).data)
    assert first["type"] == "history"
    return Tab(ws, first["messages"])


async def card_number(url: str) -> str:
    engine = database.create_engine(url)
    try:
        async with database.session_factory(engine)() as session:
            return (await session.execute(select(Customer.card_number))).scalar_one()
    finally:
        await engine.dispose()


async def buy(process: BotProcess, key: str, card: str, receipt: str) -> dict:
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{process.port}/api/v1/purchases",
            json={"card": card, "amount": "1500.00", "receipt_id": receipt},
            headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def statuses(url: str) -> list[str]:
    """The outbox messages' statuses, oldest first (read with an engine of the test's own)."""
    engine = database.create_engine(url)
    try:
        async with database.session_factory(engine)() as session:
            return list((await session.execute(
                select(OutboxMessage.status).order_by(OutboxMessage.id))).scalars())
    finally:
        await engine.dispose()


async def until_status(url: str, wanted: str) -> list[str]:
    """The outbox's statuses once the newest message has ``wanted`` (or after a while)."""
    for _ in range(100):
        found = await statuses(url)
        if found and found[-1] == wanted:
            return found
        await asyncio.sleep(0.1)
    return await statuses(url)


async def test_a_message_the_worker_sends_reaches_the_page_open_on_another_process_at_once(
        pg_settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    setup = await build(pg_settings, SystemClock())
    key = await new_key(setup)
    await setup.close()
    url = pg_settings.database.url
    a, b = run_as("web", pg_settings, tmp_path, "a"), run_as("web", pg_settings, tmp_path, "b")
    worker = run_as("worker", pg_settings, tmp_path, "worker")
    await started(processes, a, b, worker)

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        on_a = await open_tab(browser, a)
        await on_a.say("/start")
        await on_a.until("Здравствуйте")
        on_b = await open_tab(browser, b)  # the same visitor, a second tab, on the other process
        assert [m.get("text") for m in on_b.history][-1].startswith("Здравствуйте")

        await on_a.press("consent:yes")  # what A answers shows on B's tab too
        assert (await on_a.next())["type"] == "ask_contact"
        assert (await on_b.next())["type"] == "ask_contact"
        await on_b.say(PHONE)  # and what the visitor types on B shows on A's
        assert (await on_a.next()) | {"id": 0} == {"type": "mine", "text": PHONE, "author": "visitor",
                                                  "id": 0}
        await on_a.until("Как к вам обращаться?")
        await on_b.until("Как к вам обращаться?")
        await on_a.say("Anna")
        await on_a.until("день рождения")
        await on_a.press("birthday:skip")
        await on_a.until("Добро пожаловать в программу, Anna!")
        await on_b.until("Добро пожаловать в программу, Anna!")

        # a till on B; the notice is queued, sent by the worker, shown live on both tabs
        card = await card_number(url)
        assert (await buy(b, key, card, "R1"))["balance"] == 145
        notice = await on_a.until("Спасибо за покупку", timeout=LIVE)
        assert "Баланс: 145 баллов." in notice["text"]
        assert (await on_b.until("Спасибо за покупку", timeout=LIVE))["id"] == notice["id"]
        assert await on_a.nothing_more() == [] and await on_b.nothing_more() == []  # once each
        assert await until_status(url, "sent") == ["sent"]

        await on_a.ws.close()
        await on_b.ws.close()
        await asyncio.sleep(0.5)  # the processes let go of the visitor's presence
        await buy(b, key, card, "R2")  # nobody's page is open: kept for the visitor's return
        assert await until_status(url, "waiting") == ["sent", "waiting"]
        await asyncio.sleep(1.0)  # the worker polls several times: it is not sent again
        assert await statuses(url) == ["sent", "waiting"]

        back = await open_tab(browser, a)  # back, on either process
        texts = [m.get("text") or "" for m in back.history]
        assert "Баланс: 190 баллов." in texts[-1]
        assert sum("Спасибо за покупку" in text for text in texts) == 2
        assert await statuses(url) == ["sent", "sent"]


async def test_a_sign_up_whose_every_step_goes_to_the_other_process_and_a_file_made_on_one(
        pg_settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    """Each page load of an English-speaking visitor goes to the other web process (as a
    proxy may send them): the conversation goes on where it was, in English, to a member
    with their welcome bonus; an export offered on one process downloads from the other."""
    setup = await build(pg_settings, SystemClock())
    async with setup.core.unit_of_work() as uow:
        invite = await create_invite(uow, "admin", None, setup.core.services.clock.now())
        await uow.commit()
    await setup.close()
    a, b = run_as("web", pg_settings, tmp_path, "a"), run_as("web", pg_settings, tmp_path, "b")
    await started(processes, a, b)
    english = {"Accept-Language": "en-GB,en;q=0.9"}

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        async def step(process: BotProcess, send: tuple[str, str], expected: str) -> Frame:
            tab = await open_tab(browser, process, **english)
            await (tab.say if send[0] == "text" else tab.press)(send[1])
            frame = await tab.until(expected) if expected else await tab.next()
            await tab.ws.close()
            return frame

        await step(a, ("text", "/start"), "Hello! This is the loyalty program of Our shop.")
        ask = await step(b, ("button", "consent:yes"), "")
        assert ask["type"] == "ask_contact" and "phone" in ask["text"]
        await step(a, ("text", PHONE), "How should we call you?")
        await step(b, ("text", "Anna"), "When is your birthday?")
        welcome = await step(a, ("button", "birthday:skip"), "Welcome to the program, Anna!")
        assert "+100 points" in welcome["text"]
        balance = await step(b, ("button", "balance"), "Available: 100 points")
        assert "+100 welcome bonus" in balance["text"]
        card = await step(a, ("button", "card"), "")
        assert card["type"] == "picture"
        assert format_card_number(await card_number(pg_settings.database.url)) in card["caption"]

        await step(b, ("text", f"/start {invite}"), "You are now")
        await step(a, ("text", "/export"), "What to export?")
        link = await step(b, ("button", "ex.file:customers:csv"), "")
        assert link["type"] == "document" and link["url"].startswith("/web/download/")
        async with browser.get(f"http://127.0.0.1:{a.port}{link['url']}") as download:
            assert download.status == 200  # made on B, served by A
            assert "attachment" in download.headers["Content-Disposition"]
            assert "Anna" in (await download.read()).decode("utf-8-sig")
    async with ClientSession() as stranger, stranger.get(
            f"http://127.0.0.1:{a.port}{link['url']}") as refused:
        assert refused.status == 404  # not without the visitor's cookie


async def test_the_listener_comes_back_after_its_connection_is_cut_and_holds_its_presence_again(
        pg_settings: Settings):
    url = pg_settings.database.url
    heard: list[str] = []
    reconnected = asyncio.Event()

    async def on_notify(payload: str) -> None:
        heard.append(payload)

    async def on_reconnect() -> None:
        reconnected.set()

    async def present() -> bool:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            return await uow.web_messages.page_open_anywhere(presence_key("visitor-1"))

    async def notify(payload: str) -> None:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            await uow.web_messages.announce("test_channel", payload)
            await uow.commit()

    listener = Listener(url, "test_channel", on_notify, on_reconnect, check_seconds=0.2)
    engine = database.create_engine(url)
    try:
        await listener.start()
        assert not await present()
        await listener.hold(presence_key("visitor-1"))
        assert await present()
        await notify("first")

        async with engine.begin() as connection:  # the listener's backend (the lock's) is cut off
            assert await connection.scalar(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = CAST(:space AS oid)"), {"space": PRESENCE_LOCKS})
        await asyncio.wait_for(reconnected.wait(), 5.0)  # told, to catch up on what it missed
        assert await present()  # the lock is held again
        await notify("second")
        for _ in range(50):
            if heard == ["first", "second"]:
                break
            await asyncio.sleep(0.05)
        assert heard == ["first", "second"]
        await listener.let_go(presence_key("visitor-1"))
        assert not await present()
    finally:
        await listener.stop()
        await engine.dispose()


def in_english(update: dict[str, Any]) -> dict[str, Any]:
    """The update of someone whose Telegram speaks English."""
    event = update.get("message") or update["callback_query"]
    event["from"]["language_code"] = "en"
    return update


async def test_a_telegram_sign_up_whose_every_update_goes_to_the_other_process(
        pg_settings: Settings, tmp_path: Path, processes: list[BotProcess]):
    """Telegram's webhook behind a proxy: each update reaches the other web process; the
    sign-up (start, consent, the sender's own contact, the profile name, the birthday) ends
    with a member in their own language, their phone verified, their bonus on the card."""
    telegram = {"LOYALTY_TELEGRAM__MODE": "webhook", "LOYALTY_TELEGRAM__WEBHOOK_SECRET": SECRET,
                "LOYALTY_WEB__PUBLIC_URL": PUBLIC_URL}
    async with FakeBotAPI(token=TOKEN) as api:
        a, b = (run_as("web", pg_settings, tmp_path, name, api) for name in ("a", "b"))
        a.env |= telegram
        b.env |= telegram
        await started(processes, a, b)
        await a.until(lambda: "telegram webhook set" in a.text(), "the webhook")
        await b.until(lambda: "telegram webhook set" in b.text(), "the webhook")

        async def step(process: BotProcess, update: dict[str, Any], replies: int = 1) -> list[str]:
            before = len(api.calls_to("sendMessage"))
            async with aiohttp.ClientSession() as session, session.post(
                    f"http://127.0.0.1:{process.port}/telegram/webhook", json=in_english(update),
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                assert response.status == 200
            calls = (await api.wait_for("sendMessage", before + replies, timeout=LIVE))[before:]
            return [call.params["text"] for call in calls]

        [hello] = await step(a, message_update(1, IVAN, "/start"))
        assert hello.startswith("Hello! This is the loyalty program of Our shop.")
        [ask] = await step(b, callback_update(2, IVAN, "consent:yes"))
        assert "phone" in ask
        await step(a, contact_update(3, IVAN, "+79001234567", contact_user_id=IVAN), 2)
        [birthday] = await step(b, callback_update(4, IVAN, "name:profile"))
        assert "When is your birthday?" in birthday
        [welcome] = await step(a, message_update(5, IVAN, "14.03.1990"))
        assert "Welcome to the program, Ivan!" in welcome and "+100 points" in welcome
        [balance] = await step(b, message_update(6, IVAN, "/balance"))
        assert "Available: 100 points" in balance

    engine = database.create_engine(pg_settings.database.url)
    try:
        async with database.session_factory(engine)() as session:
            [member] = (await session.execute(select(Customer))).scalars().all()
    finally:
        await engine.dispose()
    assert (member.phone, member.phone_verified, member.name) == ("+79001234567", True, "Ivan")
    assert (member.birth_day, member.birth_month, member.birth_year) == (14, 3, 1990)
