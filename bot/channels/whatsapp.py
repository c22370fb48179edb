"""WhatsApp through the Cloud API with pywa's async client; the webhook runs on the app's own
aiohttp server. The adapter only translates.

WhatsApp's rules it keeps: every webhook POST is signed with the app secret; a menu is up to
three reply buttons or a list of up to ten rows (longer: numbered lines, answered with the
number or the label); pictures are uploaded once and sent by media id; and outside the
24 hours after the person's last message the business may only send approved templates.

The numbered menu a person was shown last and the media ids of uploaded pictures are kept in
the database (``uow.channel_notes``), not in this process: a menu the worker's outbox or
another web process showed is answered here, and a picture is uploaded once for all of them.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import mimetypes
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
from aiohttp import web
from pywa_async import WhatsApp
from pywa_async.errors import WhatsAppError
from pywa_async.types import Button, Section, SectionList, SectionRow
from pywa_async.types.templates import BodyText, TemplateLanguage

from bot.channels.base import (
    BackgroundWork,
    Channel,
    RetryLater,
    Undeliverable,
    Unreachable,
    channel_info,
    discard,
)
from bot.channels.kind import ChannelKind, default_reply_cost
from bot.channels.whatsapp_inbound import (
    CHANNEL,
    OWN_PHONE,
    SIGNATURE_HEADER,
    Failure,
    Incoming,
    failures,
    incoming,
    signed,
)
from bot.config import OutboxSettings, Settings, WhatsAppSettings
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.keys import same_secret
from bot.core.lru import LruCache
from bot.core.replies import (
    AskContact,
    Document,
    Keyboard,
    Picture,
    Reply,
    Template,
    Text,
    from_json,
    to_json,
)
from bot.storage.repositories.channel_notes import Note

if TYPE_CHECKING:
    from bot.delivery.pace import Pace
    from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)  # the customer service window after the person's last message
NO_TEMPLATE = "outside the 24-hour window, no template"
MEDIA_LIFETIME = timedelta(days=29)  # uploaded media are kept by WhatsApp for 30 days
MENU_LIFETIME = timedelta(days=1)  # a typed number a day after the menu answers nothing
REPLY_BUTTONS, BUTTON_TITLE = 3, 20
LIST_ROWS, ROW_TITLE = 10, 24
INTERACTIVE_BODY = 1024  # longer texts cannot carry buttons
LIST_OPENER = "☰"  # the list's own button: a symbol, so it needs no translation
RE_ENGAGEMENT = 131047  # more than 24 hours since the person's last message
# Graph error codes of throughput limits → seconds the whole channel waits
THROTTLED = {4: 60.0, 80007: 60.0, 130429: 1.0, 131048: 60.0}
# the ids of the messages sent by the delivery running in this task, when it notes them
SENT_IDS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("sent_ids", default=None)
GONE = frozenset({131026})  # not on WhatsApp (any more), or cannot receive from businesses
# retrying will not help: stopped marketing, ecosystem limit, a template missing or wrong
REFUSED = frozenset({131049, 131050, 132000, 132001, 132005, 132007, 132012, 132015, 132016})
# WhatsApp reports a closed window within minutes of the send; a week is ample.
KEEP_SENT_IDS = timedelta(days=7)

Choice = tuple[str, str]  # (label, payload)


def menu_key(recipient: str) -> str:
    return f"menu:{recipient}"


def media_key(image: bytes) -> str:
    return f"media:{hashlib.sha256(image).hexdigest()}"


def choices_of(rows: Keyboard) -> list[Choice]:
    return [(b.label, b.payload) for row in rows for b in row if b.payload]


def links_of(rows: Keyboard) -> list[str]:
    return [f"{b.label}: {b.url}" for row in rows for b in row if b.url]


def with_lines(text: str, lines: Sequence[str]) -> str:
    return "\n\n".join(part for part in (text, "\n".join(lines)) if part)


def numbered(choices: Sequence[Choice]) -> list[str]:
    return [f"{number}. {label}" for number, (label, _) in enumerate(choices, 1)]


def shortened(label: str, limit: int) -> str:
    """Whole words up to ``limit`` characters (a platform's title limit)."""
    if len(label) <= limit:
        return label
    words, cut = label.split(), ""
    for word in words:
        if len(f"{cut} {word}".strip()) > limit:
            break
        cut = f"{cut} {word}".strip()
    return cut or label[:limit]


def chosen(text: str, choices: Sequence[Choice]) -> str | None:
    """The payload a typed answer to a numbered menu picks: its number or its label."""
    typed = text.strip().rstrip(".").casefold()
    if typed.isdecimal() and 1 <= int(typed) <= len(choices):
        return choices[int(typed) - 1][1]
    return next((payload for label, payload in choices if label.casefold() == typed), None)


def share_link(text: str, link: str) -> str:
    """WhatsApp's «click to chat» without a number: the person picks a chat to send it to."""
    return f"https://wa.me/?text={quote(f'{text} {link}', safe='')}"


def translated(error: WhatsAppError) -> Exception:
    """A Graph API error as the outbox understands it."""
    code = error.code
    if code in THROTTLED:
        return RetryLater(THROTTLED[code])
    if code in GONE:
        return Unreachable(f"{code} {error.message}")
    if code in REFUSED:
        return Undeliverable(f"{code} {error.message}")
    return error


async def note_sent(response: httpx.Response) -> None:
    """The ids of the messages sent, for a delivery that notes them (``SENT_IDS``): every
    kind of message pywa sends is a POST to …/messages answering its id."""
    ids = SENT_IDS.get()
    request = response.request
    if ids is None or request.method != "POST" or not request.url.path.endswith("/messages") \
            or response.is_error:
        return
    await response.aread()
    ids.extend(m["id"] for m in response.json().get("messages") or [] if m.get("id"))


def reply_cost(reply: Reply) -> int:
    """A picture with buttons is the image, then a message with the buttons."""
    if isinstance(reply, Picture) and reply.buttons:
        return 2
    return default_reply_cost(reply)


def cost(replies: Sequence[Reply]) -> int:
    """Free-form messages, or the one approved template that stands for them outside the
    24-hour window: never less than one call when there is a template."""
    free = sum(reply_cost(reply) for reply in replies)
    return max(free, 1) if any(isinstance(reply, Template) for reply in replies) else free


def rates(outbox: OutboxSettings) -> tuple[float, float]:
    return outbox.whatsapp_per_second, outbox.whatsapp_per_chat_per_second


def build(settings: Settings, core: Core, limits: Pace) -> WhatsAppChannel:
    if settings.whatsapp is None:
        raise ValueError("the [whatsapp] section is not set")
    return WhatsAppChannel(settings.whatsapp, core)


async def forget_old_sends(uow: UnitOfWork, now: datetime) -> None:
    """The platform ids of messages older than any status WhatsApp may still report."""
    await uow.platform_ids.forget_older_than(now - KEEP_SENT_IDS)


KIND = ChannelKind(
    name=CHANNEL, label=N_("WhatsApp"), enabled=lambda settings: settings.whatsapp is not None,
    build=build, verified_contacts=True, rates=rates, cost=cost, upkeep=forget_old_sends)


class WhatsAppChannel(Channel):
    name = CHANNEL
    kind = KIND

    def __init__(self, settings: WhatsAppSettings, core: Core) -> None:
        self.settings = settings
        self.core = core
        self.session = httpx.AsyncClient(timeout=30, event_hooks={"response": [note_sent]})
        self.wa = WhatsApp(phone_id=settings.phone_id, token=settings.token.get_secret_value(),
                           session=self.session, api_version=settings.api_version,
                           validate_updates=False)  # the webhook below checks signatures
        # pywa always names graph.facebook.com; the session is ours to point elsewhere (tests)
        self.session.base_url = f"{settings.api_base.rstrip('/')}/v{float(settings.api_version)}"
        self._info = channel_info(KIND, self.deep_link, share_link)
        self._media: LruCache[str, Note] = LruCache(1024)  # media_key → (id, usable until)
        self._background = BackgroundWork()

    def info(self) -> ChannelInfo:
        return self._info

    def template_problems(self, catalogue: Mapping[str, Sequence[str]]) -> list[str]:
        problems = []
        for key, template in sorted(self.settings.templates.items()):
            if key not in catalogue:
                problems.append(f"whatsapp.templates.{key}: no message has this key, so the "
                                f"template is never sent (the keys: {', '.join(sorted(catalogue))})")
                continue
            unknown = [name for name in template.parameters if name not in catalogue[key]]
            if unknown:
                problems.append(f"whatsapp.templates.{key}.parameters: {', '.join(unknown)} "
                                f"is not among that message's values, so every send of the "
                                f"template fails (its values: {', '.join(catalogue[key])})")
        return problems

    def deep_link(self, payload: str) -> str:
        number = "".join(ch for ch in self.settings.number if ch.isdigit())
        return f"https://wa.me/{number}?text={quote(f'/start {payload}')}"

    # --- inbound -------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        app.router.add_get(self.settings.webhook_path, self.verify)
        app.router.add_post(self.settings.webhook_path, self.webhook)

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription check: the verify token back as ``hub.challenge``."""
        token = request.query.get("hub.verify_token", "")
        expected = self.settings.verify_token.get_secret_value()
        if request.query.get("hub.mode") != "subscribe" or not same_secret(token, expected):
            return web.Response(status=403, text="forbidden")
        return web.Response(text=request.query.get("hub.challenge", ""))

    async def webhook(self, request: web.Request) -> web.Response:
        """A signed batch of updates: answered at once, its messages handled in the background
        (each person's in order; the core skips a redelivered message id)."""
        body = await request.read()
        if not signed(body, request.headers.get(SIGNATURE_HEADER),
                      self.settings.app_secret.get_secret_value()):
            log.warning("whatsapp webhook with a missing or wrong signature refused")
            return web.Response(status=403, text="forbidden")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            return web.Response(status=400, text="not json")
        for message in incoming(payload, self.settings.phone_id, self._download):
            self._background.start(self._answer(message))
        for failure in failures(payload, self.settings.phone_id):
            self._background.start(self._undelivered(failure))
        return web.Response(text="ok")

    async def _answer(self, message: Incoming) -> None:
        recipient = message.event.user.external_id
        replies = await self.core.handle(message.event, self._info, prepare=self._menu_choice)
        try:
            await self.send(recipient, replies)
        except Exception:  # a background task: nobody else would hear of it
            log.exception("could not answer whatsapp user %s", recipient)

    async def _menu_choice(self, event: Event) -> Event:
        """A typed number or label answering the numbered menu shown last is that button's
        press. The menu answers only the next message, whatever it is: it is taken (one
        statement, by primary key)."""
        async with self.core.unit_of_work() as uow:
            menu = await uow.channel_notes.take(CHANNEL, menu_key(event.user.external_id),
                                                self.core.services.clock.now())
            await uow.commit()
        if event.kind is not EventKind.TEXT or menu is None:
            return event
        payload = chosen(event.text, [(label, payload) for label, payload in menu.value])
        if payload is None:
            return event
        return Event(event.user, EventKind.BUTTON, payload=payload, event_id=event.event_id)

    async def _download(self, media_id: str) -> bytes | None:
        try:
            url = await self.wa.get_media_url(media_id)
            return await self.wa.get_media_bytes(url.url)
        except (WhatsAppError, httpx.HTTPError) as error:
            log.warning("could not download whatsapp media %s: %s", media_id, error)
            return None

    async def idle(self) -> None:
        """Until the messages taken so far are answered."""
        await self._background.finish()

    async def stop(self) -> None:
        await self.idle()

    async def close(self) -> None:
        await self.session.aclose()

    # --- proactive sending (the outbox) --------------------------------------------------

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        """Free-form inside the 24-hour window; outside it, or when WhatsApp says the window
        is closed, the approved template the replies name (none: ``Undeliverable``); a
        template alone (the retry of a message WhatsApp failed later) goes as the template.
        The ids of a free-form message with a template are kept: WhatsApp may report the
        closed window only later, in a status webhook (``_undelivered``)."""
        template = next((reply for reply in replies if isinstance(reply, Template)), None)
        try:
            if not await self._window_open(recipient) or all(r is template for r in replies):
                await self._send_template(recipient, template)
                return
            try:
                sent = await self._noting_ids(self.send(recipient, replies))
            except WhatsAppError as error:
                if error.code != RE_ENGAGEMENT:
                    raise
                await self._send_template(recipient, template)
                return
            if template is not None and message_id is not None:
                await self._remember(sent, message_id)
        except WhatsAppError as error:
            raise translated(error) from error

    async def _noting_ids(self, sending: Awaitable[object]) -> list[str]:
        ids: list[str] = []
        token = SENT_IDS.set(ids)
        try:
            await sending
        finally:
            SENT_IDS.reset(token)
        return ids

    async def _remember(self, wamids: list[str], message_id: int) -> None:
        now = self.core.services.clock.now()
        async with self.core.unit_of_work() as uow:
            uow.platform_ids.remember(wamids, message_id, now)
            await uow.commit()

    async def _undelivered(self, failure: Failure) -> None:
        """A message the program started failed after all: with the window closed (131047)
        it goes again as its template; else, or with no template, it is marked failed with
        the reason (the reports count it)."""
        async with self.core.unit_of_work() as uow:
            row = await uow.platform_ids.sent_as(failure.wamid)
            if row is None:  # not ours to redo, or already redone (a repeated status)
                return
            template = next((reply for reply in map(from_json, row.payload)
                             if isinstance(reply, Template)), None)
            configured = template if template and template.key in self.settings.templates else None
            values: dict[str, object]
            if failure.code == RE_ENGAGEMENT and configured:
                values = {"status": "pending", "payload": [to_json(configured)], "attempts": 0,
                          "not_before": self.core.services.clock.now(), "sent_at": None,
                          "error": "the 24-hour window was closed: sent as its template"}
            else:
                reason = NO_TEMPLATE if failure.code == RE_ENGAGEMENT else \
                    f"{failure.code} {failure.title}"
                values = {"status": "failed", "error": reason[:200]}
            await uow.platform_ids.settle_failure(row.id, values)
            await uow.commit()
        self.core.notifier.on_enqueued()

    async def _window_open(self, recipient: str) -> bool:
        """Within 24 hours of the person's last message (``last_seen_at`` is updated by every
        inbound event and lags it by at most a minute, so the window is never overrated)."""
        async with self.core.unit_of_work() as uow:
            seen = await uow.identities.last_seen(CHANNEL, recipient)
        return seen is not None and self.core.services.clock.now() - seen < WINDOW

    async def _send_template(self, recipient: str, template: Template | None) -> None:
        config = self.settings.templates.get(template.key) if template is not None else None
        if template is None or config is None:
            raise Undeliverable(NO_TEMPLATE)
        values = dict(template.params)
        missing = [name for name in config.parameters if not values.get(name)]
        if missing:
            raise Undeliverable(f"template {config.name}: no value for {', '.join(missing)}")
        ordered = [values[name] for name in config.parameters]
        # pywa defines BodyText.params without @staticmethod, so mypy takes the first value for self
        params = [BodyText.params(*ordered)] if ordered else None  # type: ignore[arg-type]
        await self.wa.send_template(to=recipient, name=config.name,
                                    language=TemplateLanguage(config.language), params=params)

    # --- rendering -----------------------------------------------------------------------

    async def send_text(self, recipient: str, reply: Text) -> None:
        choices = choices_of(reply.buttons)
        text = with_lines(reply.text, links_of(reply.buttons)) or "…"
        if not choices:
            await self.wa.send_message(to=recipient, text=text)
        elif len(text) > INTERACTIVE_BODY or len(choices) > LIST_ROWS or \
                any(len(label) > ROW_TITLE for label, _ in choices):
            await self._note(menu_key(recipient), choices, MENU_LIFETIME)
            await self.wa.send_message(to=recipient, text=with_lines(text, numbered(choices)))
        elif len(choices) <= REPLY_BUTTONS and all(len(label) <= BUTTON_TITLE for label, _ in choices):
            await self.wa.send_message(to=recipient, text=text, buttons=[
                Button(title=label, callback_data=payload) for label, payload in choices])
        else:
            await self.wa.send_message(to=recipient, text=text, buttons=SectionList(
                button_title=LIST_OPENER, sections=[Section(title=LIST_OPENER, rows=[
                    SectionRow(title=label, callback_data=payload) for label, payload in choices])]))

    async def send_picture(self, recipient: str, reply: Picture) -> None:
        """Uploaded once per distinct image (by its hash), then sent by media id; the buttons
        follow in a message of their own with the caption."""
        media_id = await self._uploaded(reply.image)
        if not reply.buttons:
            await self.wa.send_image(to=recipient, image=media_id, caption=reply.caption or None)
            return
        await self.wa.send_image(to=recipient, image=media_id)
        await self.send_text(recipient, Text(reply.caption, reply.buttons))

    async def _uploaded(self, image: bytes) -> str:
        """The media id of ``image``: uploaded by whichever process sent it first, again
        once WhatsApp may have dropped it."""
        key = media_key(image)
        now = self.core.services.clock.now()
        known = self._media.get(key)
        if known is None or known.until <= now:
            async with self.core.unit_of_work() as uow:
                known = await uow.channel_notes.read(CHANNEL, key, now)
        if known is None:
            jpeg = image.startswith(b"\xff\xd8")
            media = await self.wa.upload_media(
                media=image, mime_type="image/jpeg" if jpeg else "image/png",
                filename="picture.jpg" if jpeg else "picture.png")
            known = await self._note(key, media.id, MEDIA_LIFETIME)
        self._media.put(key, known)
        return str(known.value)

    async def _note(self, key: str, value: object, lifetime: timedelta) -> Note:
        note = Note(value, self.core.services.clock.now() + lifetime)
        async with self.core.unit_of_work() as uow:
            await uow.channel_notes.keep(CHANNEL, key, note.value, note.until)
            await uow.commit()
        return note

    async def ask_contact(self, recipient: str, reply: AskContact) -> None:
        """A number (the person's id is their number): a reply button that shares it. A
        hidden number (a business-scoped id): WhatsApp's own "share contact info" request."""
        if recipient.isdecimal():
            await self.wa.send_message(to=recipient, text=reply.text, buttons=[
                Button(title=shortened(reply.button_label, BUTTON_TITLE), callback_data=OWN_PHONE)])
        else:
            await self.wa.request_contact_info(to=recipient, text=reply.text)

    async def send_document(self, recipient: str, reply: Document) -> None:
        try:
            mime = mimetypes.guess_type(reply.filename)[0] or "application/octet-stream"
            media = await self.wa.upload_media(media=Path(reply.path), mime_type=mime,
                                               filename=reply.filename)
            await self.wa.send_document(to=recipient, document=media.id, filename=reply.filename,
                                        caption=reply.caption or None)
        finally:
            discard(reply)
