"""Viber through its REST bot API: a webhook on the app's own aiohttp server, checked by
the ``X-Viber-Content-Signature`` before anything is parsed. The adapter only translates.

viberbot (the official library) parses the webhook requests and builds the messages; its
sender is synchronous (``requests``, a new connection per message), so messages go out
through aiohttp to the same endpoints with the ``X-Viber-Auth-Token`` header instead.
bench/viber_send.py measured both in one run against the fake Viber API in its own process
on 127.0.0.1, 2,000 messages, 30 at a time, 2 CPUs: aiohttp 8,000–9,900 messages/s,
viberbot's sender in ``asyncio.to_thread`` 750–860 messages/s. The thread way opens a new
TCP (in production TLS) connection per message and is capped by the default thread pool
(6 workers on 2 CPUs); aiohttp keeps its connections and needs no threads. Viber's own
limits are far below both, but a broadcast in threads would hold the shared default pool
and a connection per send for nothing, so aiohttp it is.

Platform rules: Viber delivers the ``conversation_started`` event when a person opens the
chat, before they subscribe; the only message allowed then is the welcome returned as
the HTTP response body (free of charge). The person subscribes by sending their first
message, and the sign-up continues from there. Messages the bot starts (triggers,
broadcasts, notices) are paid. Buttons are ``reply`` buttons on the keyboard under the
input field: a press arrives as a text message with the button's ``ActionBody``, which is
the payload behind ``BUTTON_PREFIX``. The phone comes from a ``share-phone`` button, which
shares the person's own number (verified); a typed phone is not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from viberbot.api.messages import ContactMessage, PictureMessage, TextMessage
from viberbot.api.messages.typed_message import TypedMessage
from viberbot.api.user_profile import UserProfile
from viberbot.api.viber_requests import (
    ViberConversationStartedRequest,
    ViberFailedRequest,
    ViberMessageRequest,
    ViberSubscribedRequest,
    ViberUnsubscribedRequest,
    create_request,
)
from viberbot.api.viber_requests.viber_request import ViberRequest

from bot.channels.base import BackgroundWork, Channel, RetryLater, Unreachable, channel_info
from bot.channels.kind import ChannelCommand, ChannelKind, default_reply_cost
from bot.channels.media import MediaLinks
from bot.config import OutboxSettings, Settings, ViberSettings
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.events import Event, EventKind, SharedContact, UserRef, platform_id
from bot.core.i18n import N_
from bot.core.keys import derive, same_secret
from bot.core.replies import AskContact, Button, Keyboard, Picture, Reply, Text

if TYPE_CHECKING:
    from bot.delivery.pace import Pace

log = logging.getLogger(__name__)

CHANNEL = "viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
MEDIA_PATH = "/viber/media"  # pictures for Viber, by signed links (bot/channels/media.py)
TOKEN_HEADER = "X-Viber-Auth-Token"
BUTTON_PREFIX = "btn:"  # a reply button's ActionBody: the press comes back as this text
EVENT_TYPES = ["conversation_started", "message", "subscribed", "unsubscribed", "failed"]
# https://developers.viber.com/docs/api/rest-bot-api/#error-codes
UNREACHABLE = {5: "receiverNotRegistered", 6: "receiverNotSubscribed",
               11: "receiverNoSuitableDevice"}
TOO_MANY_REQUESTS = 12
RETRY_SECONDS = 5.0  # Viber names no wait on tooManyRequests
SHARE_PHONE_API = 3  # the share-phone button needs Viber API version 3
MAX_TEXT = 7000
MAX_CAPTION = 120  # a picture message's text
MAX_SENDER_NAME = 28
COLUMNS = 6  # a keyboard row is six columns wide
TIMEOUT = aiohttp.ClientTimeout(total=30)


class ViberError(Exception):
    """Viber answered with a status other than 0 (ok)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"viber status {status}: {message}")
        self.status = status


class ViberApi:
    """The REST API over aiohttp: one session, the token in a header."""

    def __init__(self, token: str, api_base: str) -> None:
        self._token = token
        self.api_base = api_base.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def call(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        async with self._session.post(f"{self.api_base}/{endpoint}", json=payload,
                                      headers={TOKEN_HEADER: self._token}) as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json(content_type=None)
        if body.get("status") != 0:
            raise ViberError(int(body.get("status", -1)), str(body.get("status_message", "")))
        return body

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def sign(token: str, body: bytes) -> str:
    """The signature Viber puts on a webhook request: HMAC-SHA256 of the raw body, hex."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


async def register_webhook(settings: ViberSettings, public_url: str) -> list[str]:
    """Tell Viber where the webhook is (``loyalty-bot viber set-webhook``). Viber calls the
    URL at once to check it, so the app must be running there."""
    if settings.token is None:
        raise ValueError("viber.token is not set")
    api = ViberApi(settings.token.get_secret_value(), settings.api_base)
    try:
        answer = await api.call("set_webhook", {
            "url": public_url.rstrip("/") + settings.webhook_path,
            "event_types": EVENT_TYPES, "send_name": True, "send_photo": False})
    finally:
        await api.close()
    return list(answer.get("event_types", []))


async def set_webhook(settings: Settings) -> int:
    """``loyalty-bot viber set-webhook``: 0 when Viber took the webhook."""
    if settings.viber.token is None:
        print("loyalty-bot: viber.token is not set", file=sys.stderr)
        return 2
    try:
        events = await register_webhook(settings.viber, settings.web.base_url())
    except (ViberError, aiohttp.ClientError) as exc:  # e.g. status 1: the URL is not valid or up
        print(f"loyalty-bot: viber refused the webhook: {exc}", file=sys.stderr)
        return 1
    print(f"viber webhook set to {settings.web.base_url()}{settings.viber.webhook_path} "
          f"for {', '.join(events)}")
    return 0


# --- platform → core ---------------------------------------------------------------------

def from_someone(request: ViberRequest) -> bool:
    """The callback names its person with an id the database can keep (a signed callback
    may still carry anything there), or names nobody (a failed delivery)."""
    match request:
        case ViberMessageRequest():
            person: object = request.sender.id
        case ViberConversationStartedRequest() | ViberSubscribedRequest():
            person = request.user.id
        case ViberUnsubscribedRequest():
            person = request.user_id
        case _:
            return True
    return platform_id(person) is not None


def string(value: object) -> str | None:
    """A field Viber documents as a string; None for anything else: viberbot checks no
    types, and a signed callback may still carry a number or an object anywhere."""
    return value if isinstance(value, str) and value else None


def user_ref(profile: UserProfile) -> UserRef:
    return UserRef(CHANNEL, str(profile.id), display_name=string(profile.name),
                   language_code=string(profile.language))


def message_event(request: ViberMessageRequest,
                  fetch_image: Callable[[str], Awaitable[bytes | None]]) -> Event:
    user, message = user_ref(request.sender), request.message
    event_id = str(request.message_token)
    if isinstance(message, ContactMessage) and message.contact and \
            (phone := string(message.contact.phone_number)):
        contact = SharedContact(phone if phone.startswith("+") else "+" + phone, is_own=True)
        return Event(user, EventKind.CONTACT, contact=contact, event_id=event_id)
    if isinstance(message, TextMessage) and isinstance(text := message.text, str):
        if text.startswith(BUTTON_PREFIX):
            return Event(user, EventKind.BUTTON, payload=text.removeprefix(BUTTON_PREFIX),
                         event_id=event_id)
        return Event.from_text(user, text, event_id=event_id)
    if isinstance(message, PictureMessage) and (media := string(message.media)):
        return Event(user, EventKind.PHOTO, text=string(message.text) or "",
                     fetch_image=lambda: fetch_image(media), event_id=event_id)
    return Event(user, EventKind.UNSUPPORTED, event_id=event_id)


# --- core → platform ---------------------------------------------------------------------

def widths(count: int) -> list[int]:
    """Columns of ``count`` buttons sharing one six-column row."""
    return [COLUMNS // count + (1 if i < COLUMNS % count else 0) for i in range(count)]


def button_json(button: Button, columns: int) -> dict[str, Any]:
    action = ({"ActionType": "open-url", "ActionBody": button.url} if button.url else
              {"ActionType": "reply", "ActionBody": BUTTON_PREFIX + (button.payload or ""),
               "Silent": True})
    return {"Columns": columns, "Rows": 1, "Text": button.label, "TextSize": "regular", **action}


def keyboard_json(rows: Keyboard) -> dict[str, Any] | None:
    if not rows:
        return None
    buttons = []
    for row in rows:
        for start in range(0, len(row), COLUMNS):
            chunk = row[start:start + COLUMNS]
            buttons += [button_json(b, w) for b, w in zip(chunk, widths(len(chunk)), strict=True)]
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": buttons}


def share_phone_keyboard(label: str) -> dict[str, Any]:
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": [
        {"Columns": COLUMNS, "Rows": 1, "Text": label, "ActionType": "share-phone",
         "ActionBody": "phone"}]}


def text_message(text: str, buttons: Keyboard = ()) -> TextMessage:
    return TextMessage(text=text[:MAX_TEXT], keyboard=keyboard_json(buttons))


def welcome_message(replies: Sequence[Reply]) -> TextMessage | None:
    """The replies to opening the chat as the one welcome message Viber takes: their
    texts together, under the last buttons."""
    texts = [r for r in replies if isinstance(r, (Text, AskContact))]
    if not texts:
        return None
    buttons = next((r.buttons for r in reversed(texts) if isinstance(r, Text) and r.buttons), ())
    return text_message("\n\n".join(r.text for r in texts), buttons)


def reply_cost(reply: Reply) -> int:
    """A caption too long for a picture message follows as a text of its own."""
    if isinstance(reply, Picture) and len(reply.caption) > MAX_CAPTION:
        return 2
    return default_reply_cost(reply)


def cost(replies: Sequence[Reply]) -> int:
    return sum(reply_cost(reply) for reply in replies)


def rates(outbox: OutboxSettings) -> tuple[float, float]:
    return outbox.viber_per_second, outbox.viber_per_chat_per_second


def build(settings: Settings, core: Core, limits: Pace) -> ViberChannel:
    return ViberChannel.build(settings, core)  # its answers are not counted in ``limits``


# a typed phone is taken, unverified: clients older than API 3 have no share-phone
KIND = ChannelKind(
    name=CHANNEL, label=N_("Viber"), enabled=lambda settings: settings.viber.token is not None,
    build=build, verified_contacts=True, typed_phone=True, rates=rates, cost=cost,
    paid_messages=True, takes_marketing=lambda settings: settings.viber.marketing,
    commands=(ChannelCommand("set-webhook", "register web.public_url + viber.webhook_path with "
                                            "Viber (the app must be running there: Viber calls it)",
                             set_webhook),))


class ViberChannel(Channel):
    name = CHANNEL
    kind = KIND

    def __init__(self, settings: ViberSettings, core: Core, media: MediaLinks,
                 sender_name: str) -> None:
        if settings.token is None:
            raise ValueError("viber.token is not set")
        self.settings = settings
        self.core = core
        self.media = media
        self._token = settings.token.get_secret_value()
        self.api = ViberApi(self._token, settings.api_base)
        self.sender = {"name": (settings.name or sender_name)[:MAX_SENDER_NAME]}
        if settings.avatar:
            self.sender["avatar"] = settings.avatar
        self.uri = ""
        self._background = BackgroundWork()
        self._stopping = False
        self._info = channel_info(KIND, self.deep_link)

    @classmethod
    def build(cls, settings: Settings, core: Core) -> ViberChannel:
        """The channel with its picture links, served under the webhook's own prefix."""
        services = core.services
        media = MediaLinks(derive(services.secret, "viber-media"), settings.web.base_url(),
                           MEDIA_PATH, services.clock,
                           timedelta(minutes=settings.viber.media_ttl_minutes), core.unit_of_work)
        return cls(settings.viber, core, media, settings.shop.name)

    def info(self) -> ChannelInfo:
        return self._info

    def deep_link(self, payload: str) -> str:
        return f"viber://pa?chatURI={self.uri}&context={quote(payload)}"

    def install(self, app: web.Application) -> None:
        app.router.add_post(self.settings.webhook_path, self.webhook)
        self.media.install(app)

    async def start(self) -> None:
        try:  # once at start: the chat URI for deep links
            self.uri = str((await self.api.call("get_account_info", {})).get("uri", ""))
        except (ViberError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not read the viber account info: %s", exc)

    async def idle(self) -> None:
        """Until the messages taken so far are answered."""
        await self._background.finish()

    async def stop(self) -> None:
        self._stopping = True
        await self._background.finish(timeout=10)

    async def close(self) -> None:
        await self.api.close()

    # --- inbound -------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not same_secret(signature, sign(self._token, body)):
            raise web.HTTPForbidden(text="bad signature")
        if self._stopping:
            raise web.HTTPServiceUnavailable()  # Viber delivers it again later
        try:
            viber_request = create_request(json.loads(body))
        except Exception as exc:  # an event type this viberbot does not know, or bad JSON
            log.info("ignoring a viber callback: %s", exc)
            return web.Response()
        if not from_someone(viber_request):
            log.info("ignoring a viber callback from a user id the database can't keep")
            return web.Response()
        match viber_request:
            case ViberConversationStartedRequest():
                return await self._conversation_started(viber_request)
            case ViberMessageRequest():
                # answered at once; Viber's retries are deduplicated by the core
                self._background.start(self._on_message(viber_request))
            case ViberUnsubscribedRequest():
                await self._set_reachable(str(viber_request.user_id), False)
            case ViberSubscribedRequest():
                await self._set_reachable(str(viber_request.user.id), True)
            case ViberFailedRequest():
                log.info("viber could not deliver %s to %s: %s", viber_request.message_token,
                         viber_request.user_id, viber_request.desc)
        return web.Response()

    async def _conversation_started(self, request: ViberConversationStartedRequest) -> web.Response:
        """The welcome is the response body (the person is not subscribed yet); the deep
        link's context arrives as the /start payload and is remembered like Telegram's."""
        event = Event(user_ref(request.user), EventKind.COMMAND, text="/start", command="start",
                      payload=string(request.context), event_id=f"start:{request.message_token}")
        welcome = welcome_message(await self.core.handle(event, self._info))
        if welcome is None:
            return web.Response()
        return web.json_response({"sender": self.sender, **welcome.to_dict()})

    async def _on_message(self, request: ViberMessageRequest) -> None:
        event = message_event(request, self._download)
        recipient = event.user.external_id
        await self._set_reachable(recipient, True)  # a message subscribes the person again
        replies = await self.core.handle(event, self._info)
        try:
            await self.send(recipient, replies)
        except Unreachable:
            log.info("viber user %s cannot be written to", recipient)
        except (ViberError, aiohttp.ClientError, TimeoutError):
            log.exception("could not answer viber user %s", recipient)

    async def _download(self, url: str) -> bytes | None:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(url) as response:
                response.raise_for_status()
                return await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not download a viber picture: %s", exc)
            return None

    async def _set_reachable(self, external_id: str, reachable: bool) -> None:
        """Unsubscribed: nothing is sent to them any more (the notifier skips them) until
        they subscribe again. Changes a row only when the flag really changes."""
        async with self.core.unit_of_work() as uow:
            await uow.identities.set_reachable(CHANNEL, external_id, reachable)
            await uow.commit()

    # --- outbound ------------------------------------------------------------------------

    async def _post(self, recipient: str, message: TypedMessage) -> None:
        payload = {**message.to_dict(), "receiver": recipient, "sender": self.sender}
        await self.api.call("send_message", payload)

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        try:
            await self.send(recipient, replies)
        except ViberError as exc:
            if exc.status == TOO_MANY_REQUESTS:
                raise RetryLater(RETRY_SECONDS) from exc
            raise  # any other status: the outbox retries with a backoff, then gives up

    async def send(self, recipient: str, replies: Sequence[Reply]) -> None:
        try:
            await super().send(recipient, replies)
        except ViberError as exc:
            if exc.status in UNREACHABLE:  # for the inbound path as much as for the outbox
                raise Unreachable(UNREACHABLE[exc.status]) from exc
            raise

    async def send_text(self, recipient: str, reply: Text) -> None:
        await self._post(recipient, text_message(reply.text, reply.buttons))

    async def send_picture(self, recipient: str, reply: Picture) -> None:
        """A link to the picture served by this app; a caption too long for a picture
        message follows as a text with the buttons."""
        url = await self.media.publish(reply.image)
        fits = len(reply.caption) <= MAX_CAPTION
        await self._post(recipient, PictureMessage(
            media=url, text=reply.caption if fits else "",
            keyboard=keyboard_json(reply.buttons) if fits else None))
        if not fits:
            await self.send_text(recipient, Text(reply.caption, reply.buttons))

    async def ask_contact(self, recipient: str, reply: AskContact) -> None:
        await self._post(recipient, TextMessage(text=reply.text[:MAX_TEXT],
                                                keyboard=share_phone_keyboard(reply.button_label),
                                                min_api_version=SHARE_PHONE_API))
