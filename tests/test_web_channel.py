"""The web chat as a browser uses it: the page, its cookie and the WebSocket, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, DummyCookieJar, WSMsgType, WSServerHandshakeError
from aiohttp.client import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build
from bot.channels.web import COOKIE
from bot.config import Settings
from bot.loyalty.cards import TOKEN_PREFIX, format_card_number
from bot.storage.models import Customer
from tests.chat import OWNER, owner_settings, payloads_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 5.0

Message = dict[str, Any]


@pytest.fixture
def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    web = getattr(request, "param", {})  # a test's own [web] settings
    # telegram:1 is an admin, who can take a web visitor off the staff
    return owner_settings(db_url, **({"web": web} if web else {}))


@pytest.fixture
async def client(app) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(app.web)) as client:
        yield client


@asynccontextmanager
async def another_browser(client: TestClient) -> AsyncIterator[ClientSession]:
    """A second visitor on the same server: a session with its own cookie jar."""
    async with ClientSession(base_url=str(client.make_url("/")),
                             cookie_jar=CookieJar(unsafe=True)) as session:
        yield session


async def new_tab(client: TestClient | ClientSession, **headers: str) -> ClientWebSocketResponse:
    """Open the page (which hands out the cookie, once) and its WebSocket."""
    page = await client.get("/", headers=headers)
    assert page.status == 200
    return (await connect(client, **headers))[0]


async def connect(client: TestClient | ClientSession, **headers: str
                  ) -> tuple[ClientWebSocketResponse, list[Message]]:
    """The WebSocket, and the conversation so far that the server sends first."""
    ws = await client.ws_connect("/web/ws", headers=headers)
    history = json.loads((await ws.receive(timeout=TIMEOUT)).data)
    assert history["type"] == "history"
    return ws, history["messages"]


def body(message: Message) -> str:
    return message.get("text") or message.get("caption") or ""


def payloads(message: Message) -> list[str]:
    return [b["payload"] for row in message.get("buttons", []) for b in row if "payload" in b]


async def receive(ws: ClientWebSocketResponse) -> Message:
    """The next message from the bot (a visitor's own messages, echoed to their other tabs,
    the acknowledgements of them and the page's controls are skipped)."""
    while True:
        message = await ws.receive(timeout=TIMEOUT)
        assert message.type is WSMsgType.TEXT, message
        data = json.loads(message.data)
        if data.get("type") not in ("mine", "seen", "ui"):
            return data


async def until(ws: ClientWebSocketResponse, expected: str) -> Message:
    """The first message containing ``expected``; whatever comes before it is skipped."""
    seen = []
    while True:
        message = await receive(ws)
        seen.append(body(message))
        if expected in body(message):
            return message
        assert len(seen) < 10, f"{expected!r} never came; got {seen}"


async def say(ws: ClientWebSocketResponse, text: str) -> None:
    await ws.send_json({"type": "text", "text": text})


async def press(ws: ClientWebSocketResponse, payload: str) -> None:
    await ws.send_json({"type": "button", "payload": payload})


async def sign_up(ws: ClientWebSocketResponse, phone: str = "+79001234567", name: str = "Anna") -> Message:
    await say(ws, "/start")
    greeting = await until(ws, "Здравствуйте")
    assert "consent:yes" in payloads(greeting)
    await press(ws, "consent:yes")
    ask = await receive(ws)
    assert ask["type"] == "ask_contact" and "Введите номер телефона" in ask["text"]
    await say(ws, phone)
    name_prompt = await until(ws, "Как к вам обращаться?")
    assert "name:profile" not in payloads(name_prompt)  # the web knows no profile name
    await say(ws, name)
    birthday = await until(ws, "день рождения")
    assert payloads(birthday) == ["birthday:skip"]
    await press(ws, "birthday:skip")
    return await until(ws, "Добро пожаловать в программу")


async def customers(app) -> list[Customer]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer))).scalars())


# --- the page ------------------------------------------------------------------------------

async def test_page_sets_an_http_only_cookie_once_and_speaks_russian_by_default(client):
    first = await client.get("/")
    assert first.status == 200 and first.content_type == "text/html"
    cookie = first.cookies[COOKIE]
    assert len(cookie.value) >= 32
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) > 0
    html = await first.text()
    assert '<html lang="ru">' in html
    assert "<title>Coffee Point</title>" in html
    assert 'placeholder="Напишите сообщение"' in html and ">Отправить</button>" in html
    assert "Связь потеряна, переподключаемся…" in html
    assert "$" not in html  # every placeholder of the template was filled

    again = await client.get("/")
    assert COOKIE not in again.cookies  # the visitor keeps their identity


async def test_page_follows_the_browser_language(client):
    page = await client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"})
    html = await page.text()
    assert '<html lang="en">' in html
    assert 'placeholder="Type a message"' in html and ">Send</button>" in html
    assert "Connection lost, reconnecting…" in html


async def test_unknown_browser_language_falls_back_to_the_default(client):
    html = await (await client.get("/", headers={"Accept-Language": "de-DE"})).text()
    assert '<html lang="ru">' in html and "Напишите сообщение" in html


async def test_a_mangled_cookie_is_replaced(client):
    client.session.cookie_jar.update_cookies({COOKIE: "x" * 100})
    page = await client.get("/")
    assert COOKIE in page.cookies and page.cookies[COOKIE].value != "x" * 100


async def test_shop_name_is_escaped_in_the_page(settings, clock):
    odd = settings.model_copy(update={"shop": settings.shop.model_copy(
        update={"name": '<script>alert(1)</script> "Tom & Jerry"'})})
    application = await build(odd, clock)
    try:
        async with TestClient(TestServer(application.web)) as client:
            html = await (await client.get("/")).text()
    finally:
        await application.close()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;Tom &amp; Jerry&quot;" in html


async def test_static_files_are_served(client):
    for name, kind in (("chat.js", "javascript"), ("chat.css", "text/css")):
        response = await client.get(f"/web/static/{name}")
        assert response.status == 200 and kind in response.content_type


# --- the WebSocket -------------------------------------------------------------------------

async def test_websocket_without_the_cookie_is_refused(client):
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/web/ws")
    assert refused.value.status == 401


async def test_websocket_from_another_origin_is_refused(client):
    await client.get("/")
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/web/ws", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    own, _history = await connect(client, Origin=f"http://{client.host}:{client.port}")
    await say(own, "/start")
    assert "Здравствуйте" in body(await receive(own))


async def test_whole_sign_up_over_the_websocket(client, app, clock):
    ws = await new_tab(client)
    welcome = await sign_up(ws, phone="+7 (900) 123-45-67", name="Anna")
    assert welcome["type"] == "text"
    assert "Добро пожаловать в программу, Anna!" in welcome["text"]
    assert "+100 баллов" in welcome["text"]
    assert {"card", "balance", "status", "settings", "rules"} <= set(payloads(welcome))

    [customer] = await customers(app)
    assert customer.phone == "+79001234567" and not customer.phone_verified
    assert customer.name == "Anna" and customer.registered_at == clock.now()


async def test_greeting_buttons_carry_payloads_or_links(client):
    ws = await new_tab(client)
    await say(ws, "/start")
    greeting = await receive(ws)
    buttons = [b for row in greeting["buttons"] for b in row]
    assert all(set(b) in ({"label", "payload"}, {"label", "url"}) for b in buttons)
    assert "https://example.com/privacy" in [b.get("url") for b in buttons]


async def test_card_button_answers_with_a_png_data_url_and_the_card_number(client, app):
    ws = await new_tab(client)
    await sign_up(ws)
    await press(ws, "card")
    card = await receive(ws)
    assert card["type"] == "picture"
    prefix = "data:image/png;base64,"
    assert card["image"].startswith(prefix)
    png = base64.b64decode(card["image"].removeprefix(prefix), validate=True)
    assert png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"

    [customer] = await customers(app)
    assert f"Карта № {format_card_number(customer.card_number)}" in card["caption"]
    assert "Anna" in card["caption"]
    assert {"balance", "menu"} <= set(payloads(card))


async def test_garbage_and_unknown_messages_are_ignored_and_the_socket_stays_open(client):
    ws = await new_tab(client)
    await say(ws, "/start")
    assert "Здравствуйте" in body(await receive(ws))
    for junk in ("not json", "[1, 2]", '"text"', "null", "{}", '{"type": "sticker"}',
                 '{"type": "text"}', '{"type": "text", "text": 5}', '{"type": "button"}',
                 '{"type": "button", "payload": ["consent:yes"]}', "{" * 1000):
        await ws.send_str(junk)
    await ws.send_bytes(b"\x00\x01binary")
    # Nothing was answered: the very next message is the reply to a real press.
    await press(ws, "consent:yes")
    reply = await receive(ws)
    assert reply["type"] == "ask_contact"
    assert not ws.closed


async def test_two_tabs_of_one_browser_both_get_the_replies(client, app):
    tab1 = await new_tab(client)
    await say(tab1, "/start")
    assert "Здравствуйте" in body(await receive(tab1))
    tab2 = await new_tab(client)  # the same cookie jar: the same visitor
    await say(tab2, "/start")
    for tab in (tab1, tab2):  # both see the answer to the second tab
        assert "Здравствуйте" in body(await receive(tab))

    async with another_browser(client) as stranger:
        other = await new_tab(stranger)
        await press(tab1, "consent:yes")
        for tab in (tab1, tab2):
            assert (await receive(tab))["type"] == "ask_contact"
        # The other visitor got nothing: their next message answers their own /start.
        await say(other, "/start")
        first = await receive(other)
        assert first["type"] == "text" and "Здравствуйте" in first["text"]

    await tab2.close()  # the other tab goes on alone
    await say(tab1, "+79001234567")
    await until(tab1, "Как к вам обращаться?")


async def test_card_deep_link_tells_a_stranger_it_is_a_loyalty_card(client, app, clock):
    owner = await new_tab(client)
    await sign_up(owner)
    [customer] = await customers(app)
    token = app.core.services.card_tokens.issue(customer.id, clock.now())
    link = app.channel("web").deep_link(TOKEN_PREFIX + token)
    assert link.startswith("http://127.0.0.1:8080/?start=card-")

    async with another_browser(client) as stranger_browser:
        stranger = await new_tab(stranger_browser)
        await say(stranger, f"/start {TOKEN_PREFIX}{token}")  # what the page sends for ?start=
        reply = await receive(stranger)
    assert reply["type"] == "text"
    assert "Это карта программы лояльности «Coffee Point»." in reply["text"]
    assert "Хотите свою? Отправьте /start" in reply["text"]
    assert customer.card_number not in reply["text"]
    assert len(await customers(app)) == 1


async def test_a_made_up_cookie_is_nobody(client):
    """The visitor id is signed by the server: a guessed or copied-and-edited id is refused."""
    client.session.cookie_jar.update_cookies({COOKIE: "someone-elses-id.0000"})
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/web/ws")
    assert refused.value.status == 401


async def test_a_notice_reaches_an_open_page_and_is_not_called_sent_without_one(client, app, clock):
    from bot.core.replies import Text
    from bot.delivery.notify import Notification
    from bot.storage.models import Identity, OutboxMessage

    async def notify_everyone() -> None:
        async with app.core.unit_of_work() as uow:
            identity = (await uow.session.execute(select(Identity))).scalars().one()
            await app.core.notifier.enqueue(
                uow, [Notification(lambda t: [Text("A notice")], identity_id=identity.id)], clock.now())
            await uow.commit()

    async def statuses() -> list[tuple[str, str | None]]:
        async with app.core.unit_of_work() as uow:
            rows = await uow.session.execute(select(OutboxMessage.status, OutboxMessage.error)
                                             .order_by(OutboxMessage.id))
            return [tuple(row) for row in rows.all()]  # type: ignore[misc]

    tab = await new_tab(client)
    await sign_up(tab)
    await notify_everyone()
    assert await app.outbox.send_due() == 1
    assert body(await receive(tab)) == "A notice"
    await tab.close()
    await notify_everyone()
    assert await app.outbox.send_due() == 0  # nobody to show it to now: kept for them
    [delivered, waiting] = await statuses()
    assert delivered == ("sent", None)
    assert waiting[0] == "waiting" and "kept for their return" in (waiting[1] or "")
    assert await app.outbox.send_due() == 0  # and not sent again

    _back, history = await connect(client)  # the visitor returns
    assert [m["text"] for m in history if m["type"] == "text"][-2:] == ["A notice", "A notice"]
    assert [status for status, _ in await statuses()] == ["sent", "sent"]


async def test_a_message_announced_while_a_page_connects_comes_once_and_after_its_history():
    """Another process's message may be announced while a page is reading its history: it
    waits for the history, and is not sent again when the history has it."""
    from bot.channels.web import Page

    class Socket:
        def __init__(self) -> None:
            self.frames: list[Message] = []

        async def send_json(self, frame: Message) -> None:
            self.frames.append(frame)

    socket = Socket()
    page = Page("visitor", socket)  # type: ignore[arg-type]
    await page.show({"type": "text", "text": "stored before the history was read", "id": 7})
    await page.show({"type": "text", "text": "stored after", "id": 8})
    assert socket.frames == []  # nothing before the history
    await page.open({"type": "history", "messages": [{"id": 6}, {"id": 7}]}, {6, 7})
    await page.show({"type": "text", "text": "stored after", "id": 8})  # told twice (a catch-up)
    await page.show({"type": "ui"})
    assert [(f["type"], f.get("id")) for f in socket.frames] == [
        ("history", None), ("text", 8), ("ui", None)]


async def test_a_returning_visitor_gets_the_conversation_as_it_was(client, app):
    """The same cookie: the history in order, the visitor's own messages too, and nothing
    sent twice; a page with no history is the only one that starts with /start."""
    tab = await new_tab(client)
    await sign_up(tab)
    await tab.close()
    _again, history = await connect(client)
    texts = [(m["author"], m.get("text") or m.get("caption") or "") for m in history]
    assert texts[0][0] == "visitor" and texts[0][1] == "/start"
    assert ("visitor", "+79001234567") in texts and ("visitor", "Anna") in texts
    assert "Добро пожаловать в программу" in texts[-1][1]
    assert [m["id"] for m in history] == sorted(m["id"] for m in history)
    async with another_browser(client) as stranger:
        await stranger.get("/")
        _ws, theirs = await connect(stranger)
        assert theirs == []

    await press(_again, "settings:delete:confirm")  # the conversation goes with the data
    assert "Ваши данные удалены" in body(await receive(_again))
    _last, history = await connect(client)
    assert history == []


async def test_keyed_texts_carry_their_key_and_a_document_is_a_link_for_its_visitor_only(
        client, app, tmp_path):
    from bot.channels.web import COOKIE
    from bot.core.replies import Document, Text

    tab = await new_tab(client)
    visitor = app.channel("web").cookies.visitor(
        client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value)
    await app.channel("web").deliver(visitor, [Text("Sent 1 of 2", key="progress:7")])
    assert (await receive(tab))["key"] == "progress:7"

    export = tmp_path / "operations.csv"
    export.write_text("id;amount\n1;100\n", encoding="utf-8")
    await app.channel("web").deliver(visitor, [Document(str(export), "operations.csv", "Operations")])
    link = await receive(tab)
    assert (link["type"], link["filename"], link["caption"]) == ("document", "operations.csv", "Operations")
    download = await client.get(link["url"])
    assert download.status == 200 and await download.read() == b"id;amount\n1;100\n"
    assert "attachment" in download.headers["Content-Disposition"]
    async with another_browser(client) as stranger:
        await stranger.get("/")
        assert (await stranger.get(link["url"])).status == 404  # someone else's file
    made_up = await client.get("/web/download/made-up")
    assert made_up.status == 404 and "Ссылка на файл устарела" in await made_up.text()


async def test_a_download_link_works_for_an_hour_and_leaves_no_file_behind(client, app, clock,
                                                                            tmp_path):
    """The file is kept in the database (any web process serves the link), not on disk."""
    from bot.channels.web import forget_old_history
    from bot.core.replies import Document
    from bot.storage.models import WebDownload

    tab = await new_tab(client)
    visitor = app.channel("web").cookies.visitor(
        client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value)
    export = tmp_path / "customers.csv"
    export.write_bytes(b"\xef\xbb\xbfcard;name\n")
    await app.channel("web").deliver(visitor, [Document(str(export), "customers.csv", "Customers")])
    link = await receive(tab)
    assert not export.exists()
    clock.advance(minutes=59)
    download = await client.get(link["url"])
    assert download.status == 200 and await download.read() == b"\xef\xbb\xbfcard;name\n"
    assert download.headers["Cache-Control"] == "no-store"
    clock.advance(minutes=2)
    expired = await client.get(link["url"])
    assert expired.status == 404 and "Ссылка на файл устарела" in await expired.text()

    async with app.core.unit_of_work() as uow:  # the daily upkeep removes it
        await forget_old_history(uow, clock.now())
        await uow.commit()
        assert (await uow.session.execute(select(WebDownload))).first() is None


async def test_one_address_cannot_open_new_chats_without_limit(client, app):
    from bot.channels.web import NEWCOMERS

    assert (await client.get("/")).status == 200  # a visitor with a cookie now
    for _ in range(NEWCOMERS - 1):
        async with another_browser(client) as browser:
            assert (await browser.get("/")).status == 200
    async with another_browser(client) as late:
        refused = await late.get("/")
        assert refused.status == 429 and "Слишком много новых чатов" in await refused.text()
        assert refused.headers["Retry-After"] == "600"
    assert (await client.get("/")).status == 200  # who has a cookie keeps their chat


@asynccontextmanager
async def newcomers(client: TestClient) -> AsyncIterator[ClientSession]:
    """A browser that keeps no cookie: each of its requests is a new visitor's."""
    async with ClientSession(base_url=str(client.make_url("/")),
                             cookie_jar=DummyCookieJar()) as session:
        yield session


async def new_chats(browser: ClientSession, count: int, forwarded_for: str | None) -> list[int]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return [(await browser.get("/", headers=headers)).status for _ in range(count)]


async def test_an_address_in_a_header_from_anyone_but_a_trusted_proxy_is_ignored(client):
    from bot.channels.web import NEWCOMERS

    async with newcomers(client) as browser:
        spoofed = [(await new_chats(browser, 1, f"198.51.100.{n}"))[0] for n in range(NEWCOMERS + 1)]
    assert spoofed == [200] * NEWCOMERS + [429]  # all counted as 127.0.0.1


@pytest.mark.parametrize("settings", [{"trusted_proxies": ["127.0.0.0/8", "10.0.0.7"]}],
                         indirect=True)
async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(client):
    from bot.channels.web import NEWCOMERS

    async with newcomers(client) as browser:
        assert await new_chats(browser, NEWCOMERS, "203.0.113.7") == [200] * NEWCOMERS
        # the client's own X-Forwarded-For comes first; the proxies append the real address
        assert await new_chats(browser, 1, "198.51.100.1, 203.0.113.7, 10.0.0.7") == [429]
        assert await new_chats(browser, 1, "203.0.113.7") == [429]
        assert await new_chats(browser, 1, "203.0.113.8") == [200]  # someone else
        assert await new_chats(browser, 1, None) == [200]  # the proxy's own request


async def test_a_graceful_stop_closes_the_open_chats_instead_of_waiting_for_them(app):
    from aiohttp import web

    from tests.support.process import free_port

    port = free_port()
    runner = web.AppRunner(app.web)  # as `loyalty-bot run` serves it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with ClientSession(f"http://127.0.0.1:{port}", cookie_jar=CookieJar(unsafe=True)) as browser:
        ws = await new_tab(browser)
        started = asyncio.get_running_loop().time()
        await runner.cleanup()
        assert asyncio.get_running_loop().time() - started < 5  # aiohttp alone waits a minute
        assert (await ws.receive(timeout=TIMEOUT)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


# --- the page's own controls: its words and the command menu ------------------------------

async def controls(ws: ClientWebSocketResponse) -> Message:
    """The next ``ui`` frame: the page's words and menu changed (messages before it skipped)."""
    for _ in range(10):
        data = json.loads((await ws.receive(timeout=TIMEOUT)).data)
        if data["type"] == "ui":
            return data
    raise AssertionError("no ui frame came")


async def frames_until_a_reply(ws: ClientWebSocketResponse) -> list[Message]:
    """Every frame up to the bot's next message (the visitor's own echoes left out)."""
    frames: list[Message] = []
    while not frames or frames[-1]["type"] == "ui":
        data = json.loads((await ws.receive(timeout=TIMEOUT)).data)
        if data["type"] not in ("mine", "seen"):
            frames.append(data)
    return frames


def menu(ui: Message) -> dict[str, str]:
    return {c["command"]: c["description"] for c in ui["commands"]}


async def test_the_page_and_its_menu_switch_to_the_language_chosen_in_settings(client):
    """Russian by default; English, chosen in Settings, at once on the open page (a ``ui``
    frame) and in the page and the history frame from then on, whatever the browser says."""
    page = await (await client.get("/")).text()
    assert 'placeholder="Напишите сообщение"' in page and ">Отправить</button>" in page
    raw = await client.ws_connect("/web/ws")
    first = json.loads((await raw.receive(timeout=TIMEOUT)).data)
    assert first["type"] == "history"
    assert first["ui"]["lang"] == "ru" and first["ui"]["texts"]["send"] == "Отправить"
    assert menu(first["ui"])["card"] == "Моя карта"  # a visitor's menu: everybody's commands
    assert "stats" not in menu(first["ui"])
    await sign_up(raw)

    await press(raw, "settings:lang:en")
    assert "Language: English" in body(await receive(raw))
    ui = await controls(raw)
    assert ui["lang"] == "en"
    assert {k: ui["texts"][k] for k in ("placeholder", "phone_placeholder", "send", "menu")} == {
        "placeholder": "Type a message", "phone_placeholder": "Your phone number",
        "send": "Send", "menu": "Commands"}
    assert menu(ui)["card"] == "My card" and menu(ui)["settings"] == "Settings"

    page = await (await client.get("/", headers={"Accept-Language": "ru-RU"})).text()
    assert '<html lang="en">' in page
    assert 'placeholder="Type a message"' in page and ">Send</button>" in page
    again = await client.ws_connect("/web/ws", headers={"Accept-Language": "ru-RU"})
    assert json.loads((await again.receive(timeout=TIMEOUT)).data)["ui"]["texts"]["send"] == "Send"

    await press(raw, "settings:lang:ru")
    for tab in (raw, again):  # every open page follows
        assert (await controls(tab))["texts"]["placeholder"] == "Напишите сообщение"


async def test_the_command_menu_is_the_roles_and_follows_it(client, app, chat, clock):
    """An invite accepted in the web chat gives the admin's menu on the page at once; removed
    from the staff, the page is back to everybody's menu."""
    from bot.console.invites import create_invite

    ws = await new_tab(client)
    await sign_up(ws)
    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "admin", None, clock.now())
        await uow.commit()
    await say(ws, f"/start {payload}")
    assert "Теперь вы администратор в «Coffee Point»" in body(await receive(ws))
    admin = menu(await controls(ws))
    assert admin["stats"] == "Статистика программы" and admin["settings"] == "Настройки программы"
    assert {"segments", "broadcast", "customer", "staff", "export", "checkout", "refund",
            "card", "balance"} <= set(admin)
    await press(ws, "menu")  # nothing changed: no ui frame again, just the answer
    assert [frame["type"] for frame in await frames_until_a_reply(ws)] == ["text"]

    owner = chat(OWNER)
    [remove] = [p for p in payloads_of(await owner.send("/staff")) if p.startswith("staff.rm:")]
    await owner.press(remove)
    await owner.press(remove.replace("staff.rm:", "staff.rm-ok:"))  # the notice goes out now
    assert "Вас убрали из сотрудников" in body(await receive(ws))
    customer = menu(await controls(ws))
    assert "stats" not in customer and customer["settings"] == "Настройки"
