"""MAX through its Bot API (platform-api2.max.ru): long polling by default, or a webhook on
the app's own aiohttp server checked by the ``X-Max-Bot-Api-Secret`` header before anything
is parsed. The adapter only translates.

The client is a thin one on aiohttp, not an SDK: the Python libraries for MAX (``maxapi``
read in full, ``maxapi-sdk``, ``maxapi-lite``) are dispatcher frameworks around a bot object
of their own, and the one worth considering, ``maxapi``, adds backoff, magic_filter,
aiofiles and puremagic, reads every upload into memory and turns neither a 429 nor a
blocked user into anything the outbox could use. What this adapter needs is a dozen calls:
``GET /me``, ``PATCH /me/commands``, ``GET /updates``, ``POST``/``DELETE /subscriptions``,
``POST /messages``, ``PUT /messages`` (an edit), ``POST /uploads``; the token goes in the ``Authorization``
header only (MAX no longer takes it as a query parameter).

MAX's rules it keeps: the person opens the bot with ``bot_started`` (a deep link's
``?start=`` payload rides on it); buttons are an ``inline_keyboard`` attachment whose
``callback`` presses come back as ``message_callback``; the phone comes from a
``request_contact`` button as a contact attachment whose ``max_info`` is the sender
(vouched for); any other contact, or a typed number, is only a number the person gave:
taken unverified, as in Viber. A picture or a file is uploaded first (``POST /uploads``,
then the bytes to the URL it names) and sent by the token the upload returns; a message
with an attachment MAX is still processing is refused as ``attachment.not.ready`` and
sent again shortly. MAX allows 30 requests a second; a 429 names no wait, so the channel
pauses a second. A person who blocked the bot answers 403 (``chat.denied``,
``error.dialog.suspended``): unreachable, until they start the bot again.

A text with a key edits the message sent before with that key (a broadcast's progress), as
on Telegram: its id is kept in the database (``uow.channel_notes``) for any process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bot.channels.base import (
    BackgroundWork,
    Channel,
    RetryLater,
    Unreachable,
    channel_info,
    discard,
    poll_in_turn,
)
from bot.channels.kind import ChannelCommand, ChannelKind, default_reply_cost
from bot.config import MaxSettings, OutboxSettings, Settings
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.events import Event, EventKind, SharedContact, UserRef
from bot.core.i18n import N_
from bot.core.keys import derive, same_secret
from bot.core.lru import LruCache
from bot.core.replies import AskContact, Button, Document, Keyboard, Picture, Reply, Text
from bot.handlers.menu import MENU_COMMANDS

if TYPE_CHECKING:
    from bot.delivery.pace import Pace

log = logging.getLogger(__name__)

CHANNEL = "max"
SECRET_HEADER = "X-Max-Bot-Api-Secret"
UPDATE_TYPES = ("bot_started", "bot_stopped", "message_created", "message_callback")
MAX_TEXT = 4000  # characters of a message's text
RETRY_SECONDS = 1.0  # a 429 names no wait
NOT_READY = "attachment.not.ready"
NOT_READY_WAITS = (0.5, 1.0, 2.0, 4.0)  # an uploaded attachment MAX is still processing
POLL_ERROR_WAITS = (1.0, 2.0, 5.0, 10.0, 30.0)  # a failing long poll tries again after these
KEYED_LIFETIME = timedelta(days=30)  # a broadcast's progress edits one message while it runs
TIMEOUT = aiohttp.ClientTimeout(total=60)


class MaxError(Exception):
    """MAX answered with an HTTP error: its status, and the ``code`` of its JSON body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"max {status} {code}: {message}")
        self.status, self.code = status, code


class MaxApi:
    """The Bot API over aiohttp: one session, the token in the Authorization header;
    ``ca_file`` adds CAs to the system's (MAX's certificate chain ends at the Russian
    Trusted Root CA)."""

    def __init__(self, token: str, api_base: str, ca_file: str = "") -> None:
        self._token = token
        self.api_base = api_base.rstrip("/")
        self._ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = None
            if self._ca_file:
                trusted = ssl.create_default_context()
                trusted.load_verify_locations(cafile=self._ca_file)
                connector = aiohttp.TCPConnector(ssl=trusted)
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, connector=connector)
        return self._session

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None,
                   body: dict[str, Any] | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        query = {key: str(value) for key, value in (params or {}).items() if value is not None}
        async with self.session.request(
                method, self.api_base + path, params=query, json=body,
                headers={"Authorization": self._token},
                timeout=aiohttp.ClientTimeout(total=timeout) if timeout else TIMEOUT) as response:
            answer = await self._json(response)
            if response.status != 200:
                raise MaxError(response.status, str(answer.get("code", "")),
                               str(answer.get("message", "")))
        return answer

    @staticmethod
    async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}

    async def upload(self, kind: str, data: bytes | Path, filename: str) -> str:
        """``POST /uploads?type=kind`` names a URL; the bytes go there as the form field
        ``data`` (without our token: it is another host); the token to attach comes back,
        for an image inside ``photos``."""
        target = await self.call("POST", "/uploads", params={"type": kind})
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        form = aiohttp.FormData(quote_fields=False)
        handle = await asyncio.to_thread(data.open, "rb") if isinstance(data, Path) else None
        try:
            form.add_field("data", handle or data, filename=filename, content_type=content_type)
            async with self.session.post(target["url"], data=form) as response:
                answer = await self._json(response)
                if response.status != 200:
                    raise MaxError(response.status, "upload.failed", json.dumps(answer)[:200])
        finally:
            if handle is not None:
                handle.close()
        photos = answer.get("photos")
        if isinstance(photos, dict) and photos:
            return str(next(iter(photos.values()))["token"])
        return str(answer.get("token") or target.get("token") or "")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def webhook_secret(settings: MaxSettings) -> str:
    """The configured secret, else one derived from the token: the same in every instance."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    if settings.token is None:
        raise ValueError("max.token is not set")
    return derive(settings.token.get_secret_value().encode(), "max-webhook").hex()


def webhook_url(settings: MaxSettings, public_url: str) -> str:
    return settings.webhook_url or public_url.rstrip("/") + settings.webhook_path


async def subscribe(api: MaxApi, settings: MaxSettings, public_url: str) -> str:
    """``POST /subscriptions``: MAX sends every update to the webhook, with the secret."""
    url = webhook_url(settings, public_url)
    answer = await api.call("POST", "/subscriptions", body={
        "url": url, "update_types": list(UPDATE_TYPES), "secret": webhook_secret(settings)})
    if answer.get("success") is False:
        raise MaxError(200, "subscription.refused", str(answer.get("message", "")))
    return url


async def set_webhook(settings: Settings) -> int:
    """``loyalty-bot max set-webhook``: 0 when MAX took the subscription."""
    if settings.max.token is None:
        print("loyalty-bot: max.token is not set", file=sys.stderr)
        return 2
    api = MaxApi(settings.max.token.get_secret_value(), settings.max.api_base, settings.max.ca_file)
    try:
        url = await subscribe(api, settings.max, settings.web.base_url())
    except (MaxError, aiohttp.ClientError, TimeoutError) as exc:
        print(f"loyalty-bot: max refused the webhook: {exc}", file=sys.stderr)
        return 1
    finally:
        await api.close()
    print(f"max webhook set to {url} for {', '.join(UPDATE_TYPES)}")
    return 0


# --- platform → core ---------------------------------------------------------------------

def event_id(kind: str, platform_id: str) -> str:
    """An update's own id, told apart by its kind (the core hashes one too long to keep)."""
    return f"{kind}:{platform_id}"


def user_id(value: Any) -> str:
    """A MAX user id (a positive 64-bit integer) as text; ValueError for anything else, so
    that an update of another shape is ignored before any of it reaches a query."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2 ** 63:
        raise ValueError(f"not a MAX user id: {str(value)[:80]!r}")
    return str(value)


def string(value: Any) -> str | None:
    """A field MAX documents as a string; None for anything else (an update of another shape
    must not carry a number or a dict into the core)."""
    return value if isinstance(value, str) and value else None


def user_ref(user: dict[str, Any], locale: Any) -> UserRef:
    name = " ".join(part for part in (string(user.get("first_name")), string(user.get("last_name")))
                    if part)
    return UserRef(CHANNEL, user_id(user["user_id"]), display_name=name or string(user.get("name")),
                   language_code=string(locale))


def vcf_phone(vcf: str) -> str | None:
    """The first TEL of a vCard, "+" first."""
    for line in vcf.replace("\r\n", "\n").split("\n"):
        key, _, value = line.strip().partition(":")
        if key.split(";", 1)[0].upper() == "TEL" and value.strip():
            phone = value.strip()
            return phone if phone.startswith("+") else "+" + phone
    return None


def contact_event(user: UserRef, payload: dict[str, Any], event: str) -> Event:
    """A contact the ``request_contact`` button shared names the sender in ``max_info``
    (``tam_info`` in older answers): their own number, vouched for. Any other contact is
    not theirs, and its number is also its text, as if typed (sign-up takes it unverified,
    since MAX takes typed numbers; a cashier at the checkout finds the customer by it)."""
    phone = vcf_phone(str(payload.get("vcf_info") or ""))
    if phone is None:
        return Event(user, EventKind.UNSUPPORTED, event_id=event)
    owner = payload.get("max_info") or payload.get("tam_info") or {}
    is_own = isinstance(owner, dict) and str(owner.get("user_id", "")) == user.external_id
    return Event(user, EventKind.CONTACT, text="" if is_own else phone,
                 contact=SharedContact(phone, is_own=is_own), event_id=event)


def message_event(message: dict[str, Any], locale: str | None,
                  fetch_image: Callable[[str], Awaitable[bytes | None]]) -> Event | None:
    """A message in a dialog with the bot; None for a group's, a channel's or a bot's."""
    sender = message.get("sender") or {}
    if message.get("recipient", {}).get("chat_type") != "dialog" or not sender or sender.get("is_bot"):
        return None
    body = message.get("body") or {}
    user = user_ref(sender, locale)
    event = event_id("m", str(body.get("mid", "")))
    attachments = body.get("attachments") or []
    contact = next((a for a in attachments if a.get("type") == "contact"), None)
    if contact is not None:
        return contact_event(user, contact.get("payload") or {}, event)
    image = next((a for a in attachments if a.get("type") == "image"), None)
    text = string(body.get("text"))
    if image is not None and (image.get("payload") or {}).get("url"):
        url = str(image["payload"]["url"])
        return Event(user, EventKind.PHOTO, text=text or "",
                     fetch_image=lambda: fetch_image(url), event_id=event)
    if text:
        return Event.from_text(user, text, event_id=event)
    return Event(user, EventKind.UNSUPPORTED, event_id=event)


def started_event(update: dict[str, Any]) -> Event:
    """Opening the bot (a deep link's payload with it) is /start."""
    user = user_ref(update["user"], update.get("user_locale"))
    return Event(user, EventKind.COMMAND, text="/start", command="start",
                 payload=string(update.get("payload")),
                 event_id=event_id("s", f"{user.external_id}:{update.get('timestamp')}"))


def callback_event(update: dict[str, Any]) -> Event:
    callback = update["callback"]
    return Event(user_ref(callback["user"], update.get("user_locale")), EventKind.BUTTON,
                 payload=string(callback.get("payload")),
                 event_id=event_id("c", str(callback["callback_id"])))


# --- core → platform ---------------------------------------------------------------------

def button_json(button: Button) -> dict[str, Any]:
    if button.url:
        return {"type": "link", "text": button.label, "url": button.url}
    return {"type": "callback", "text": button.label, "payload": button.payload or ""}


def keyboard_json(rows: Keyboard) -> list[dict[str, Any]]:
    """The inline keyboard as an attachment (none without buttons)."""
    if not rows:
        return []
    return [{"type": "inline_keyboard",
             "payload": {"buttons": [[button_json(b) for b in row] for row in rows]}}]


def contact_keyboard(label: str) -> list[dict[str, Any]]:
    return [{"type": "inline_keyboard",
             "payload": {"buttons": [[{"type": "request_contact", "text": label}]]}}]


def reply_cost(reply: Reply) -> int:
    """A picture or a file is an upload (``POST /uploads``), then the message."""
    if isinstance(reply, (Picture, Document)):
        return 2
    return default_reply_cost(reply)


def cost(replies: Sequence[Reply]) -> int:
    return sum(reply_cost(reply) for reply in replies)


def rates(outbox: OutboxSettings) -> tuple[float, float]:
    return outbox.max_per_second, outbox.max_per_chat_per_second


def build(settings: Settings, core: Core, limits: Pace) -> MaxChannel:
    return MaxChannel(settings.max, core, settings.web.base_url(), limits)


# a typed number is taken, unverified (as a contact the person did not share as their own)
KIND = ChannelKind(
    name=CHANNEL, label=N_("MAX"), enabled=lambda settings: settings.max.token is not None,
    build=build, verified_contacts=True, typed_phone=True, rates=rates, cost=cost,
    commands=(ChannelCommand("set-webhook", "subscribe web.public_url + max.webhook_path (or "
                                            "max.webhook_url) to the bot's updates", set_webhook),))


class MaxChannel(Channel):
    name = CHANNEL
    kind = KIND

    def __init__(self, settings: MaxSettings, core: Core, public_url: str,
                 limits: Pace | None = None) -> None:
        if settings.token is None:
            raise ValueError("max.token is not set")
        self.settings = settings
        self.core = core
        self.limits = limits  # the channel's rate, shared with the outbox
        self.public_url = public_url.rstrip("/")
        self.api = MaxApi(settings.token.get_secret_value(), settings.api_base, settings.ca_file)
        self.username = settings.username
        self.webhook_secret = webhook_secret(settings)
        self._images: LruCache[str, str] = LruCache(4096)  # picture cache key → upload token
        self._background = BackgroundWork()
        self._polling: asyncio.Task[None] | None = None
        self._stopping = False
        self._info = channel_info(KIND, self.deep_link)

    def info(self) -> ChannelInfo:
        return self._info

    def deep_link(self, payload: str) -> str:
        return f"https://max.ru/{self.username}?start={payload}"

    def install(self, app: web.Application) -> None:
        if self.settings.mode == "webhook":
            app.router.add_post(self.settings.webhook_path, self.webhook)

    async def start(self) -> None:
        if not self.username:  # once at start, never per update
            me = await self.api.call("GET", "/me")
            self.username = str(me.get("username") or "")
        await self._publish_commands()
        if self.settings.mode == "webhook":
            url = await subscribe(self.api, self.settings, self.public_url)
            log.info("max webhook set to %s", url)
            return
        await self._unsubscribe()  # updates are polled only while no webhook is subscribed
        self._polling = asyncio.create_task(poll_in_turn(self.core, CHANNEL, self._poll),
                                            name="max-polling")

    async def _publish_commands(self) -> None:
        """The command menu, in the shop's default language: MAX keeps one list per bot, not
        one per language or per chat (staff find their commands on /help)."""
        i18n = self.core.services.i18n
        t = i18n.translator(i18n.default)
        commands = [{"name": name, "description": t.gettext(text)} for name, text in MENU_COMMANDS]
        try:
            await self.api.call("PATCH", "/me/commands", body={"commands": commands})
        except (MaxError, aiohttp.ClientError, TimeoutError) as exc:  # the bot works without it
            log.warning("could not set the max command menu: %s", exc)

    async def _unsubscribe(self) -> None:
        subscriptions = (await self.api.call("GET", "/subscriptions")).get("subscriptions") or []
        for subscription in subscriptions:
            await self.api.call("DELETE", "/subscriptions", params={"url": subscription["url"]})

    async def idle(self) -> None:
        """Until the updates taken so far are answered."""
        await self._background.finish()

    async def stop(self) -> None:
        self._stopping = True
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        await self._background.finish(timeout=10)

    async def close(self) -> None:
        await self.api.close()

    # --- inbound -------------------------------------------------------------------------

    async def _poll(self) -> None:
        """``GET /updates`` in a loop, each update handled in the background; the marker
        says which were taken. A failing poll waits longer each time."""
        log.info("max long polling started as %s", self.username)
        marker: int | None = None
        failures = 0
        timeout = self.settings.poll_timeout
        while not self._stopping:
            try:
                answer = await self.api.call("GET", "/updates", params={
                    "marker": marker, "timeout": timeout, "types": ",".join(UPDATE_TYPES)},
                    timeout=timeout + 30)
            except (MaxError, aiohttp.ClientError, TimeoutError) as exc:
                pause = POLL_ERROR_WAITS[min(failures, len(POLL_ERROR_WAITS) - 1)]
                failures += 1
                log.warning("max: getting updates failed (%s); trying again in %s s", exc, pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            marker = answer.get("marker", marker)
            for update in answer.get("updates") or []:
                self._background.start(self._on_update(update))

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        """An update, answered at once and handled in the background (a redelivered one is
        skipped by the core); without the subscription's secret: 401, nothing read."""
        if not same_secret(request.headers.get(SECRET_HEADER, ""), self.webhook_secret):
            log.warning("max webhook with a missing or wrong secret refused")
            raise web.HTTPUnauthorized(text="wrong secret")
        if self._stopping:
            raise web.HTTPServiceUnavailable()  # MAX delivers it again later
        try:
            update = json.loads(await request.read())
        except (ValueError, RecursionError):
            return web.Response(status=400, text="not json")
        if not isinstance(update, dict):
            return web.Response(status=400, text="not an update")
        self._background.start(self._on_update(update))
        return web.json_response({"ok": True})

    async def _on_update(self, update: dict[str, Any]) -> None:
        try:
            event = await self._event(update)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # another shape
            log.info("ignoring a max update of type %s: %r", update.get("update_type"), exc)
            return
        if event is None:
            return
        replies = await self.core.handle(event, self._info)
        await self._answer(event.user.external_id, replies)

    async def _event(self, update: dict[str, Any]) -> Event | None:
        match update.get("update_type"):
            case "bot_started":
                event = started_event(update)
                await self._set_reachable(event.user.external_id, True)  # started again
                return event
            case "bot_stopped":
                await self._set_reachable(user_id(update["user"]["user_id"]), False)
                return None
            case "message_created":
                return message_event(update["message"], update.get("user_locale"), self._download)
            case "message_callback":
                return callback_event(update)
        return None

    async def _set_reachable(self, external_id: str, reachable: bool) -> None:
        """Stopped: nothing is sent to them any more until they start the bot again."""
        async with self.core.unit_of_work() as uow:
            await uow.identities.set_reachable(CHANNEL, external_id, reachable)
            await uow.commit()

    async def _download(self, url: str) -> bytes | None:
        try:
            async with self.api.session.get(url) as response:
                response.raise_for_status()
                return await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not download a max picture: %s", exc)
            return None

    async def _answer(self, recipient: str, replies: Sequence[Reply]) -> None:
        """The answer to someone who just wrote, reply by reply: counted in the channel's
        rate, and a reply that meets a 429 waits and goes once more instead of being lost."""
        try:
            for reply in replies:
                if self.limits is not None:
                    self.limits.replied(CHANNEL, reply_cost(reply))
                try:
                    await self.deliver(recipient, [reply])
                except RetryLater as later:
                    log.warning("max asked to wait before answering; the answer waits %s s",
                                later.seconds)
                    if self.limits is not None:
                        await self.limits.pause(CHANNEL, later.seconds)  # the outbox waits too
                    await asyncio.sleep(later.seconds)
                    await self.send(recipient, [reply])
        except Unreachable:
            log.info("max user %s blocked the bot", recipient)
        except (MaxError, aiohttp.ClientError, TimeoutError, RetryLater):
            log.exception("could not answer max user %s", recipient)

    # --- outbound ------------------------------------------------------------------------

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        try:
            await self.send(recipient, replies)
        except MaxError as exc:
            if exc.status == 429:
                raise RetryLater(RETRY_SECONDS) from exc
            raise  # the outbox retries with a backoff, then gives up

    async def send(self, recipient: str, replies: Sequence[Reply]) -> None:
        try:
            await super().send(recipient, replies)
        except MaxError as exc:
            if exc.status in (403, 404):  # blocked the bot, or the dialog is gone
                raise Unreachable(f"{exc.status} {exc.code}") from exc
            raise

    async def _post(self, recipient: str, text: str, attachments: list[dict[str, Any]]) -> str:
        """``POST /messages?user_id=``; the sent message's id. An attachment MAX is still
        processing is tried again a few times."""
        body = {"text": text[:MAX_TEXT], "attachments": attachments}
        for wait in (*NOT_READY_WAITS, None):
            try:
                sent = await self.api.call("POST", "/messages", params={"user_id": recipient},
                                           body=body)
                return str(sent.get("message", {}).get("body", {}).get("mid", ""))
            except MaxError as exc:
                if exc.code != NOT_READY or wait is None:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def send_text(self, recipient: str, reply: Text) -> None:
        attachments = keyboard_json(reply.buttons)
        keyed = f"message:{recipient}:{reply.key}" if reply.key else None
        mid = await self._keyed_message(keyed) if keyed else None
        if mid is not None:
            try:  # the same key: edit the message sent before (a progress line)
                await self.api.call("PUT", "/messages", params={"message_id": mid}, body={
                    "text": reply.text[:MAX_TEXT], "attachments": attachments})
                return
            except MaxError as exc:
                if exc.status in (403, 429):
                    raise
                log.info("max: can't edit message %s for %s (%s); sending anew", mid, recipient, exc)
        sent = await self._post(recipient, reply.text, attachments)
        if keyed and sent:
            now = self.core.services.clock.now()
            async with self.core.unit_of_work() as uow:
                await uow.channel_notes.keep(CHANNEL, keyed, sent, now + KEYED_LIFETIME)
                await uow.commit()

    async def _keyed_message(self, keyed: str) -> str | None:
        """The message sent with this key before, by any process."""
        async with self.core.unit_of_work() as uow:
            note = await uow.channel_notes.read(CHANNEL, keyed, self.core.services.clock.now())
        return str(note.value) if note is not None else None

    async def send_picture(self, recipient: str, reply: Picture) -> None:
        """Uploaded once per cache key in this process (a process that does not know the
        token uploads the picture again), then sent with its caption and buttons."""
        token = self._images.get(reply.cache_key) if reply.cache_key else None
        if token is None:
            name = "picture.jpg" if reply.image.startswith(b"\xff\xd8") else "picture.png"
            token = await self.api.upload("image", reply.image, name)
            if reply.cache_key:
                self._images.put(reply.cache_key, token)
        await self._post(recipient, reply.caption, [
            {"type": "image", "payload": {"token": token}}, *keyboard_json(reply.buttons)])

    async def send_document(self, recipient: str, reply: Document) -> None:
        """Streamed from the disk to the upload URL, then removed (kept for a 429's retry)."""
        try:
            token = await self.api.upload("file", Path(reply.path), reply.filename)
            await self._post(recipient, reply.caption, [{"type": "file", "payload": {"token": token}}])
        except MaxError as exc:
            if exc.status != 429:
                discard(reply)
            raise
        except BaseException:
            discard(reply)
            raise
        discard(reply)

    async def ask_contact(self, recipient: str, reply: AskContact) -> None:
        await self._post(recipient, reply.text, contact_keyboard(reply.button_label))
