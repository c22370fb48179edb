"""The web chat served by the app itself: the embedded default channel, a site widget too.

The browser keeps a random id in an HttpOnly cookie (the person's identity on this
channel) and talks over a WebSocket: it sends typed text and pressed buttons and receives
the core's replies as JSON. A phone typed here is never verified.

The conversation is kept on the server (``web_messages``): each message the page shows,
the bot's and the visitor's, with an id. A page that connects gets the recent history first,
so a reload or a return with the same cookie shows the conversation as it was, with every
message the program wrote meanwhile (those wait in the outbox as ``waiting`` and become
``sent`` when the visitor is back); a page with no history starts with /start.

The page's own words and its command menu are the visitor's (``web_controls``): in the
page, with the history, and again whenever a reply changes the language or the role.

Several processes on PostgreSQL (web processes behind a proxy, workers sending the outbox):
whoever stores messages for a visitor announces their ids (``web_relay``: NOTIFY), and every
web process listens (bot/storage/listener.py) and shows them on the pages of that visitor it
holds, each page a message once and after its history (``Page``). A process with a page of
the visitor open holds a presence lock on its listener's connection, so the outbox knows the
message was shown (``sent``) or is ``waiting``. On SQLite the one process does it all itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import mimetypes
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from aiohttp import WSMsgType, web

from bot.channels import web_relay
from bot.channels.base import Channel, KeptForLater, channel_info, discard
from bot.channels.forwarded import Network, client_address, networks
from bot.channels.kind import ChannelKind
from bot.channels.web_controls import Controls, controls_for
from bot.config import Settings
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.events import Event, EventKind, UserRef
from bot.core.i18n import N_
from bot.core.keys import derive, keyed_hash, same_secret
from bot.core.lru import LruCache
from bot.core.replies import AskContact, CommandMenu, Document, Keyboard, Picture, Reply, Text
from bot.storage.leader import shared
from bot.storage.listener import Listener, presence_key

if TYPE_CHECKING:
    from bot.delivery.pace import Pace
    from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

CHANNEL = "web"
# A web visitor's conversation: what a returning visitor sees again (not a record to keep).
KEEP_HISTORY = timedelta(days=180)

DOWNLOAD = timedelta(hours=1)  # how long a download link works

COOKIE = "loyalty_web"
MAX_COOKIE_LENGTH = 64
MAX_MESSAGE_BYTES = 64 * 1024
HISTORY = 100  # messages a connecting page gets back
NEWCOMERS, NEWCOMERS_WINDOW = 30, 600.0  # new visitors (cookies) per address in that many seconds
MINE = 500  # characters of a visitor's own message kept for the history
STATIC_DIR = Path(__file__).with_name("web_static")
# what aiohttp's handshake quotes in its own 400, or base64-decodes (the key): a byte no UTF-8
# reader takes, or any non-ASCII in the key, made that a 500
HANDSHAKE_HEADERS = ("Upgrade", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Key")


def _language(request: web.Request) -> str | None:
    """The browser's first preferred language ("en-GB,en;q=0.9" → "en-GB")."""
    return request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip() or None


class Newcomers:
    """New visitors per network address in a sliding window: one address can't create
    identities without limit (each new cookie becomes one at its first message)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._seen: LruCache[str, deque[float]] = LruCache(10_000)

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        recent = self._seen.get(address)
        if recent is None:
            recent = deque()
            self._seen.put(address, recent)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            return False
        recent.append(now)
        return True


class VisitorCookies:
    """The visitor id in the cookie is issued and signed by this server: a made-up value is
    nobody, so no one can pose as another web chat visitor."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self) -> str:
        visitor = secrets.token_urlsafe(18)
        return f"{visitor}.{self._sign(visitor)}"

    def visitor(self, cookie: str) -> str | None:
        visitor, _, signature = cookie.partition(".")
        if not visitor or len(cookie) > MAX_COOKIE_LENGTH or not visitor.isascii():
            return None
        return visitor if same_secret(signature, self._sign(visitor)) else None

    def _sign(self, visitor: str) -> str:
        return keyed_hash(self._key, visitor)[:32]


def _digest(token: str) -> str:
    """What is kept of a download link's token: its hash (the database never holds a link)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _mine(text: str) -> dict:
    """The visitor's own message as the page shows it."""
    return {"type": "mine", "text": text[:MINE]}


def _buttons(rows: Keyboard) -> list[list[dict[str, str]]]:
    return [
        [{k: v for k, v in (("label", b.label), ("payload", b.payload), ("url", b.url)) if v}
         for b in row]
        for row in rows
    ]


def build(settings: Settings, core: Core, limits: Pace) -> WebChannel:
    return WebChannel(core, settings.web.base_url(), settings.database.url,
                      networks(settings.web.trusted_proxies))


async def forget_old_history(uow: UnitOfWork, now: datetime) -> None:
    await uow.web_messages.forget_older_than(now - KEEP_HISTORY)
    await uow.web_downloads.forget_expired(now)


# a visitor's messages wait (``KeptForLater``) until a page of theirs is open again
KIND = ChannelKind(
    name=CHANNEL, label=N_("Web chat"), enabled=lambda settings: settings.web.chat_enabled,
    build=build, verified_contacts=False, reaches_when_away=False, built_in=True,
    upkeep=forget_old_history)


class Page:
    """One open page (a WebSocket) of a visitor. It gets each message once, and only after
    its history: what comes before the history is sent waits, and is dropped if the history
    has it (a message stored just before the page connected, announced just after)."""

    def __init__(self, visitor: str, ws: web.WebSocketResponse) -> None:
        self.visitor, self.ws = visitor, ws
        self.shown: set[int] = set()
        self._early: list[dict] | None = []  # None once the history is sent

    async def show(self, frame: dict) -> None:
        message_id = frame.get("id")
        if message_id is not None:
            if message_id in self.shown:
                return
            self.shown.add(message_id)
        if self._early is not None:
            self._early.append(frame)
        else:
            await self._send(frame)

    async def open(self, history: dict, ids: set[int]) -> None:
        """Send the history (messages ``ids``), then what came meanwhile that it lacks."""
        early, self._early = self._early or [], None
        self.shown |= ids
        await self._send(history)
        for frame in early:
            if frame.get("id") not in ids:
                await self._send(frame)

    async def _send(self, frame: dict) -> None:
        try:
            await self.ws.send_json(frame)
        except ConnectionError:
            log.info("web chat %s went away", self.visitor)


class WebChannel(Channel):
    name = CHANNEL
    kind = KIND

    def __init__(self, core: Core, base_url: str, database_url: str = "",
                 trusted_proxies: tuple[Network, ...] = ()) -> None:
        self.core = core
        self.cookies = VisitorCookies(derive(core.services.secret, "web-visitor"))
        self.base_url = base_url.rstrip("/")
        # PostgreSQL: other processes may hold the visitor's pages (web_relay, listener)
        self.shared = bool(database_url) and shared(database_url)
        self.database_url = database_url
        self.process = secrets.token_hex(8)  # this process, in what it announces
        self._listener: Listener | None = None
        self._sockets: dict[str, set[Page]] = defaultdict(set)
        self._newcomers = Newcomers(NEWCOMERS, NEWCOMERS_WINDOW)
        self.trusted_proxies = trusted_proxies
        self._controls: dict[str, Controls] = {}  # what the visitor's open pages show
        self._info = channel_info(KIND, self.deep_link)
        self._page = Template((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    def info(self) -> ChannelInfo:
        return self._info

    def deep_link(self, payload: str) -> str:
        return f"{self.base_url}/?start={quote(payload)}"

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_get("/web/ws", self.websocket)
        app.router.add_get("/web/download/{token}", self.download)
        app.router.add_static("/web/static", STATIC_DIR)
        # a graceful stop closes the open chats first (the pages reconnect, to another process
        # behind a proxy); else the server's stop waits up to a minute for them to end
        app.on_shutdown.append(self._close_sockets)

    async def _close_sockets(self, _app: web.Application) -> None:
        await self.stop()

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The page in the visitor's language (the one chosen in Settings, else the
        browser's), so that it is right before the WebSocket says anything."""
        visitor = self.cookies.visitor(request.cookies.get(COOKIE, ""))
        new_visitor = visitor is None  # or a forged cookie
        if new_visitor and not self._newcomers.allow(client_address(request, self.trusted_proxies)):
            i18n = self.core.services.i18n
            t = i18n.translator(i18n.choose(_language(request)))
            raise web.HTTPTooManyRequests(text=t.gettext(
                "Too many new chats from your network just now. Please try again in a few "
                "minutes."), headers={"Retry-After": str(int(NEWCOMERS_WINDOW))})
        controls = await controls_for(self.core, self.name, visitor, _language(request))
        html = self._page.substitute(
            lang=controls.locale,
            title=escape(self.core.services.settings.shop.name),
            **{key: escape(text) for key, text in controls.texts.items()},
        )
        response = web.Response(text=html, content_type="text/html")
        if new_visitor:
            response.set_cookie(COOKIE, self.cookies.issue(), httponly=True,
                                samesite="Lax", secure=self.base_url.startswith("https://"),
                                max_age=10 * 365 * 24 * 3600)
        return response

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not all(value.isascii() for name in HANDSHAKE_HEADERS
                   for value in request.headers.getall(name, [])):
            raise web.HTTPBadRequest(text="not a WebSocket handshake")
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="cross-origin chat connections are not allowed")
        visitor = self.cookies.visitor(request.cookies.get(COOKIE, ""))
        if visitor is None:
            raise web.HTTPUnauthorized(text="open the chat page first")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30)
        await ws.prepare(request)
        page = Page(visitor, ws)
        user = UserRef(self.name, visitor, language_code=_language(request))
        try:
            await self._open(page)
            await self._welcome_back(page, _language(request))
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    parsed = self._event(user, message.data)
                    if parsed is not None:
                        event, shown = parsed
                        replies = await self.core.handle(event, self._info)
                        await self._emit(visitor, await self._bodies(visitor, replies), shown, page)
        finally:
            await self._close(page)
        return ws

    async def _open(self, page: Page) -> None:
        """Count the page among the visitor's, here and (PostgreSQL) for every process: the
        presence lock is taken before the history is read, so a message stored after that
        reading is sent by a process that knows the page is open."""
        first = not self._sockets.get(page.visitor)
        self._sockets[page.visitor].add(page)
        if first and self._listener is not None:
            await self._listener.hold(presence_key(page.visitor))

    async def _close(self, page: Page) -> None:
        self._sockets[page.visitor].discard(page)
        if not self._sockets[page.visitor]:
            del self._sockets[page.visitor]
            self._controls.pop(page.visitor, None)
            if self._listener is not None:
                await self._listener.let_go(presence_key(page.visitor))

    async def _welcome_back(self, page: Page, browser_language: str | None) -> None:
        """The recent conversation first, with the page's controls; what the program wrote
        while the visitor was away is in it, and counts as delivered from now on."""
        visitor, now = page.visitor, self.core.services.clock.now()
        async with self.core.unit_of_work() as uow:
            rows = await uow.web_messages.latest(self.name, visitor, HISTORY)
            await uow.outbox_messages.deliver_waiting(self.name, visitor, now)
            await uow.commit()
        history = [{**body, "id": id_, "author": author} for id_, author, body in reversed(rows)]
        controls = await controls_for(self.core, self.name, visitor, browser_language)
        self._controls[visitor] = controls
        await page.open({"type": "history", "messages": history, "ui": controls.frame()},
                        {row.id for row in rows})

    def _same_origin(self, request: web.Request) -> bool:
        """A browser names the page that opens a WebSocket; only our own page may, so that
        another site (even a same-site one, which gets the Lax cookie) cannot talk as the
        visitor. Clients that are not browsers send no Origin."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        netloc = urlsplit(origin).netloc.lower()
        return bool(netloc) and netloc in {request.host.lower(), urlsplit(self.base_url).netloc.lower()}

    @staticmethod
    def _event(user: UserRef, raw: str) -> tuple[Event, dict | None] | None:
        """The event a frame carries, and what the page showed as the visitor's own message
        (None: nothing, as for the /start a fresh page sends by itself)."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            return None
        if not isinstance(data, dict):
            return None
        kind, silent = data.get("type"), data.get("silent") is True
        if kind == "text" and isinstance(data.get("text"), str):
            return Event.from_text(user, data["text"]), None if silent else _mine(data["text"])
        if kind == "button" and isinstance(data.get("payload"), str):
            label = data.get("label")
            return (Event(user, EventKind.BUTTON, payload=data["payload"]),
                    _mine(label) if isinstance(label, str) and not silent else None)
        if kind == "file":
            return Event(user, EventKind.UNSUPPORTED), None
        return None

    async def send(self, recipient: str, replies: Sequence[Reply]) -> None:
        await self._emit(recipient, await self._bodies(recipient, replies))

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        """A message of the program's own (the outbox) goes into the visitor's conversation
        and to their open pages, here or (PostgreSQL) in another process; with no page open
        anywhere it waits there for them (``KeptForLater``: "waiting", not failed)."""
        await self.send(recipient, replies)
        if not self._sockets.get(recipient) and not await self._open_elsewhere(recipient):
            raise KeptForLater(f"web visitor {recipient} has no page open: kept for their return")

    async def _open_elsewhere(self, visitor: str) -> bool:
        """Whether another process has a page of the visitor open (its presence lock)."""
        if not self.shared:
            return False
        async with self.core.unit_of_work() as uow:
            return await uow.web_messages.page_open_anywhere(presence_key(visitor))

    async def _emit(self, recipient: str, bodies: list[dict], mine: dict | None = None,
                    origin: Page | None = None) -> None:
        """Keep the messages in the conversation (the visitor's own first), then show them on
        every open page of the visitor (the page that sent ``mine`` shows it already); the
        other processes show them on theirs (``_notified``)."""
        stored = await self._keep(recipient, ([("visitor", mine)] if mine else [])
                                  + [("bot", body) for body in bodies])
        for (author, body), message_id in stored:
            frame = {**body, "id": message_id, "author": author}
            for page in list(self._sockets.get(recipient, ())):
                mirrored = author == "visitor" and page is origin  # shown there as it was typed
                await page.show({"type": "seen", "id": message_id} if mirrored else frame)
        await self._update_controls(recipient)

    async def _notified(self, payload: str) -> None:
        """Another process stored messages for a visitor: shown on their pages here."""
        notice = web_relay.parse(payload)
        if notice is None or notice.sender == self.process or not self._sockets.get(notice.visitor):
            return
        async with self.core.unit_of_work() as uow:
            rows = await uow.web_messages.these(self.name, notice.visitor, notice.ids)
        await self._show_all(notice.visitor, rows)

    async def _caught_up(self) -> None:
        """After the listener's connection broke, what was announced meanwhile is lost: every
        open page gets the recent conversation's messages it has not shown yet."""
        for visitor in list(self._sockets):
            async with self.core.unit_of_work() as uow:
                rows = await uow.web_messages.latest(self.name, visitor, HISTORY)
            await self._show_all(visitor, list(reversed(rows)))

    async def _show_all(self, visitor: str, rows: Sequence[tuple[int, str, dict]]) -> None:
        for message_id, author, body in rows:
            for page in list(self._sockets.get(visitor, ())):
                await page.show({**body, "id": message_id, "author": author})
        if rows:
            await self._update_controls(visitor)

    async def _update_controls(self, visitor: str) -> None:
        """After an exchange the visitor may speak another language or have another role:
        their open pages get the controls again when these changed."""
        if not self._sockets.get(visitor):
            return
        controls = await controls_for(self.core, self.name, visitor)
        if self._controls.get(visitor) == controls:
            return
        self._controls[visitor] = controls
        for page in list(self._sockets.get(visitor, ())):
            await page.show(controls.frame())

    async def _keep(self, visitor: str, messages: list[tuple[str, dict]]
                    ) -> list[tuple[tuple[str, dict], int | None]]:
        """Write the messages to the visitor's conversation in one transaction; their ids
        (None when the visitor is no one any more: their data was just deleted)."""
        if not messages:
            return []
        now = self.core.services.clock.now()
        async with self.core.unit_of_work() as uow:
            identity = await uow.identities.id_of(self.name, visitor)
            if identity is None:
                return [(message, None) for message in messages]
            ids = await uow.web_messages.add(identity, messages, now)
            if self.shared:
                for payload in web_relay.payloads(visitor, ids, self.process):
                    await uow.web_messages.announce(web_relay.CHANNEL, payload)
            await uow.commit()
        return list(zip(messages, ids, strict=True))

    async def _bodies(self, recipient: str, replies: Sequence[Reply]) -> list[dict]:
        """The replies as the page renders them."""
        bodies = []
        for reply in replies:
            match reply:
                case Text():
                    bodies.append({"type": "text", "text": reply.text,
                                   "buttons": _buttons(reply.buttons), "key": reply.key})
                case Picture():
                    kind = "jpeg" if reply.image.startswith(b"\xff\xd8") else "png"
                    image = f"data:image/{kind};base64," + base64.b64encode(reply.image).decode()
                    bodies.append({"type": "picture", "image": image, "caption": reply.caption,
                                   "buttons": _buttons(reply.buttons)})
                case AskContact():  # no contact button here: the page asks for a typed phone
                    bodies.append({"type": "ask_contact", "text": reply.text})
                case Document():
                    bodies.append(await self._download_link(recipient, reply))
                case CommandMenu():
                    pass  # the page's menu follows the role anyway: web_controls
        return bodies

    async def _download_link(self, recipient: str, reply: Document) -> dict:
        """A download link for this visitor only, valid for an hour. The file goes into the
        database (its temporary file is removed), so any web process serves the link."""
        try:
            content = await asyncio.to_thread(Path(reply.path).read_bytes)
        finally:
            discard(reply)
        token, now = secrets.token_urlsafe(24), self.core.services.clock.now()
        async with self.core.unit_of_work() as uow:
            await uow.web_downloads.forget_expired(now)
            uow.web_downloads.add(_digest(token), recipient, reply.filename, content,
                                  now, now + DOWNLOAD)
            await uow.commit()
        return {"type": "document", "url": f"/web/download/{token}",
                "filename": reply.filename, "caption": reply.caption}

    async def send_text(self, recipient: str, reply: Text) -> None:
        await self.send(recipient, [reply])

    async def download(self, request: web.Request) -> web.StreamResponse:
        visitor = self.cookies.visitor(request.cookies.get(COOKIE, ""))
        found = None
        if visitor is not None:
            async with self.core.unit_of_work() as uow:
                found = await uow.web_downloads.of(_digest(request.match_info["token"]), visitor,
                                                   self.core.services.clock.now())
        if found is None:
            i18n = self.core.services.i18n  # a person reads this in their browser
            t = i18n.translator(i18n.choose(_language(request)))
            raise web.HTTPNotFound(text=t.gettext(
                "This download link has expired or belongs to someone else. Ask for the file "
                "again in the chat."))
        kind = mimetypes.guess_type(found.filename)[0] or "application/octet-stream"
        return web.Response(body=found.content, content_type=kind, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
            "Cache-Control": "no-store"})

    async def start(self) -> None:
        """PostgreSQL: listen for what other processes store for the visitors here."""
        if self.shared and self._listener is None:
            self._listener = Listener(self.database_url, web_relay.CHANNEL, self._notified,
                                      self._caught_up)
            await self._listener.start()

    async def stop(self) -> None:
        for pages in list(self._sockets.values()):
            for page in list(pages):
                await page.ws.close()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
