"""Telegram through aiogram 3: long polling by default, or a webhook on the app's own
aiohttp server guarded by the secret token. The adapter only translates.

A text with a key edits the message sent before with that key (a broadcast's progress in
the owner's chat); which message that is, is kept in the database (``uow.channel_notes``),
so that whichever worker sends the next one edits it, also after the first one died. The
file ids of uploaded pictures stay in this process's memory: they work from any process
with the same token, and a process that does not know one uploads the picture once more.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from bot.channels.base import Channel, RetryLater, Unreachable, channel_info, discard, poll_in_turn
from bot.channels.kind import ChannelKind, default_reply_cost
from bot.config import OutboxSettings, Settings, TelegramSettings
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.events import Event, EventKind, SharedContact, UserRef
from bot.core.i18n import N_
from bot.core.keys import derive, same_secret
from bot.core.lru import LruCache
from bot.core.replies import AskContact, CommandMenu, Document, Keyboard, Picture, Reply, Text
from bot.handlers.command_menus import staff_menus
from bot.handlers.menu import MENU_COMMANDS

if TYPE_CHECKING:
    from bot.delivery.pace import Pace

log = logging.getLogger(__name__)

CHANNEL = "telegram"
KEYED_LIFETIME = timedelta(days=30)  # a broadcast's progress edits one message while it runs


def inline_keyboard(rows: Keyboard) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.label, url=b.url) if b.url
         else InlineKeyboardButton(text=b.label, callback_data=b.payload) for b in row]
        for row in rows
    ])


def user_ref(user: User) -> UserRef:
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return UserRef(CHANNEL, str(user.id), display_name=name or None,
                   language_code=user.language_code)


def message_event(message: Message, update_id: int) -> Event:
    sender = message.from_user
    assert sender is not None, "the router takes private chats only, and they name their sender"
    user = user_ref(sender)
    event_id = str(update_id)
    if message.contact is not None:
        phone = message.contact.phone_number
        contact = SharedContact(
            phone=phone if phone.startswith("+") else "+" + phone,  # Telegram omits the "+"
            is_own=message.contact.user_id == sender.id,
        )
        # someone else's number is also the text, as if typed: a cashier at the checkout
        # finds the customer by it (sign-up and phone checks refuse it as not the sender's)
        return Event(user, EventKind.CONTACT, text="" if contact.is_own else contact.phone,
                     contact=contact, event_id=event_id)
    if message.text is not None:
        return Event.from_text(user, message.text, event_id=event_id)
    return Event(user, EventKind.UNSUPPORTED, event_id=event_id)


class SecretCheckingHandler(SimpleRequestHandler):
    """aiogram's webhook handler, comparing the secret header as bytes: a header with
    non-ASCII characters is a wrong secret (401), not an error."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        return same_secret(telegram_secret_token, self.secret_token or "")

    async def handle(self, request: web.Request) -> web.Response:
        """A body that is no Telegram update (not JSON, too deep, another shape) is a 400,
        logged; nothing of it reaches the core."""
        bot = await self.resolve_bot(request)
        if self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), bot):
            try:
                Update.model_validate(json.loads(await request.read()), context={"bot": bot})
            except (ValueError, RecursionError, ValidationError) as error:
                log.warning("telegram webhook: not an update (%s)", type(error).__name__)
                return web.Response(status=400, text="not an update")
        return await super().handle(request)

    __call__ = handle


def share_link(text: str, link: str) -> str:
    """Telegram's «share to…» page: the person picks a chat, the message is ready."""
    return f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(text, safe='')}"


def reply_cost(reply: Reply) -> int:
    """A command menu is a call of its own here (setMyCommands); a picture carries its
    caption and buttons in one call."""
    return 1 if isinstance(reply, CommandMenu) else default_reply_cost(reply)


def cost(replies: Sequence[Reply]) -> int:
    return sum(reply_cost(reply) for reply in replies)


def rates(outbox: OutboxSettings) -> tuple[float, float]:
    return outbox.telegram_per_second, outbox.telegram_per_chat_per_second


def build(settings: Settings, core: Core, limits: Pace) -> TelegramChannel:
    return TelegramChannel(settings.telegram, core, settings.web.base_url(), limits)


KIND = ChannelKind(
    name=CHANNEL, label=N_("Telegram"),
    enabled=lambda settings: settings.telegram.token is not None, build=build,
    verified_contacts=True, rates=rates, cost=cost, photo_captions=True, paces_broadcasts=True)


class TelegramChannel(Channel):
    name = CHANNEL
    kind = KIND

    def __init__(self, settings: TelegramSettings, core: Core, public_url: str,
                 limits: Pace | None = None) -> None:
        if settings.token is None:
            raise ValueError("telegram.token is not set")
        self.settings = settings
        self.core = core
        self.limits = limits  # the channel's rate, shared with the outbox
        self.public_url = public_url.rstrip("/")
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base))
        self.bot = Bot(settings.token.get_secret_value(), session=session)
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(self._router())
        self.username = ""
        self._photo_ids: LruCache[str, str] = LruCache(4096)  # picture cache key → file id
        # aiogram parses each answer as Response[<type>], a pydantic generic class cached only
        # weakly: under garbage-collection pressure it was rebuilt (~9 ms) again and again
        # (bench/inbound.py). Holding the ones this adapter uses keeps the cache warm.
        self._response_types = (Response[Message], Response[bool])
        self._polling: asyncio.Task[None] | None = None
        self._info = channel_info(KIND, self.deep_link, share_link)
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        # without a configured secret, one derived from the token: the same in every instance
        self.webhook_secret = secret or derive(settings.token.get_secret_value().encode(),
                                               "telegram-webhook").hex()

    def info(self) -> ChannelInfo:
        return self._info

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.username}?start={payload}"

    # --- inbound -------------------------------------------------------------------------

    def _router(self) -> Router:
        router = Router(name="loyalty")
        # a private chat's message names its sender; a (forged) one without is not taken
        router.message.register(self._on_message, F.chat.type == "private", F.from_user)
        router.callback_query.register(self._on_callback)
        return router

    async def _on_message(self, message: Message, event_update: Update) -> None:
        event = message_event(message, event_update.update_id)
        if message.photo:
            event = await self._photo_event(message, event)
        replies = await self.core.handle(event, self._info)
        await self._deliver(message.chat.id, replies, after_contact=event.kind is EventKind.CONTACT)

    async def _photo_event(self, message: Message, event: Event) -> Event:
        """A photo, the caption as its text; its largest size is downloaded only if the
        flow in progress takes a picture (None when the download fails)."""
        largest = max(message.photo or [], key=lambda size: size.width * size.height)

        async def fetch() -> bytes | None:
            try:
                data = await self.bot.download(largest.file_id)
            except (TelegramAPIError, OSError) as exc:
                log.warning("could not download a telegram photo from %s: %s", message.chat.id, exc)
                return None
            return data.read() if data is not None else None  # read from the start (seek=True)

        return Event(event.user, EventKind.PHOTO, text=message.caption or "",
                     fetch_image=fetch, event_id=event.event_id)

    async def _on_callback(self, callback: CallbackQuery, event_update: Update) -> None:
        event = Event(user_ref(callback.from_user), EventKind.BUTTON, payload=callback.data,
                      event_id=str(event_update.update_id))
        try:  # stops the button's spinner; fails for presses older than ~15 s
            await callback.answer()
        except TelegramAPIError as exc:  # the press itself must not be lost
            log.info("could not acknowledge telegram callback %s: %s", callback.id, exc)
        replies = await self.core.handle(event, self._info)
        await self._deliver(callback.from_user.id, replies)

    def install(self, app: web.Application) -> None:
        """Serve the webhook on the shared aiohttp server (a wrong secret gets 401)."""
        if self.settings.mode == "webhook":
            SecretCheckingHandler(self.dispatcher, self.bot, secret_token=self.webhook_secret
                                  ).register(app, path=self.settings.webhook_path)

    async def start(self) -> None:
        me = await self.bot.get_me()  # once at start, never per update
        self.username = me.username or ""
        await self._publish_commands()
        if self.settings.mode == "webhook":
            url = self.settings.webhook_url or self.public_url + self.settings.webhook_path
            await self.bot.set_webhook(url, secret_token=self.webhook_secret,
                                       allowed_updates=["message", "callback_query"])
            log.info("telegram webhook set to %s", url)
        else:
            await self.bot.delete_webhook()
            self._polling = asyncio.create_task(poll_in_turn(self.core, CHANNEL, self._poll),
                                                name="telegram-polling")

    async def _poll(self) -> None:
        """aiogram's polling until ``stop``. Cancelled (``in_turn`` lost its lock, or the
        channel stops), it is stopped the way aiogram stops it: a cancelled ``start_polling``
        leaves its polling task running, asking Telegram for updates."""
        log.info("telegram long polling started as @%s", self.username)
        polling = asyncio.ensure_future(self.dispatcher.start_polling(
            self.bot, handle_signals=False, close_bot_session=False,
            allowed_updates=["message", "callback_query"]))
        try:
            await asyncio.shield(polling)
        except asyncio.CancelledError:
            await self._stop_polling(polling)
            raise

    async def _stop_polling(self, polling: asyncio.Future[None]) -> None:
        if not polling.done():
            try:
                await self.dispatcher.stop_polling()
            except RuntimeError:  # "Polling is not started": it has not run yet
                polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)

    async def _publish_commands(self) -> None:
        """The command menu in every language; the default one for everybody else. Then
        each admin's and cashier's own, in their chat."""
        i18n = self.core.services.i18n
        for locale in [None, *i18n.available]:
            t = i18n.translator(locale or i18n.default)
            await self.bot.set_my_commands(
                [BotCommand(command=name, description=t.gettext(text)) for name, text in MENU_COMMANDS],
                language_code=locale,
            )
        for chat, menu in await staff_menus(self.core, CHANNEL):
            try:
                await self.set_command_menu(chat, menu)
            except (TelegramAPIError, ValueError) as exc:  # a configured admin's id may be wrong
                log.warning("could not set the command menu of telegram chat %s: %s", chat, exc)

    async def set_command_menu(self, recipient: str, reply: CommandMenu) -> None:
        scope = BotCommandScopeChat(chat_id=int(recipient))
        if not reply.commands:
            await self.bot.delete_my_commands(scope=scope)
            return
        await self.bot.set_my_commands(
            [BotCommand(command=name, description=text) for name, text in reply.commands],
            scope=scope)

    async def stop(self) -> None:
        if self._polling is not None:  # waiting for its turn, or polling (_poll stops aiogram)
            self._polling.cancel()  # not aiogram's stop_polling alone: a turn lost meanwhile
            await asyncio.gather(self._polling, return_exceptions=True)  # would poll again
            self._polling = None

    async def close(self) -> None:
        await self.bot.session.close()

    # --- outbound ------------------------------------------------------------------------

    async def _deliver(self, chat_id: int, replies: list[Reply], after_contact: bool = False) -> None:
        """The answer to someone who just wrote, reply by reply: counted in the channel's
        rate (the outbox leaves room for it), and a reply that meets a flood limit waits
        the time Telegram names and goes once more instead of being lost."""
        recipient = str(chat_id)
        try:
            for n, reply in enumerate(replies):
                if n == 0 and after_contact and isinstance(reply, Text) and not reply.buttons:
                    # the contact is shared: the first plain answer takes the share button away
                    await self._answer(1, partial(self.bot.send_message, chat_id, reply.text,
                                                  reply_markup=ReplyKeyboardRemove()))
                    continue
                await self._answer(reply_cost(reply), partial(self.send, recipient, [reply]))
        except TelegramForbiddenError:
            log.info("telegram chat %s blocked the bot", chat_id)
        except TelegramAPIError:
            log.exception("could not answer telegram chat %s", chat_id)

    async def _answer(self, calls: int, send: Callable[[], Awaitable[object]]) -> None:
        if self.limits is not None:
            self.limits.replied(CHANNEL, calls)
        try:
            await send()
        except TelegramRetryAfter as exc:
            log.warning("telegram asked to wait %s s before answering; the answer waits",
                        exc.retry_after)
            if self.limits is not None:
                await self.limits.pause(CHANNEL, exc.retry_after)  # the outbox waits too
            await asyncio.sleep(exc.retry_after)
            await send()

    async def deliver(self, recipient: str, replies: Sequence[Reply],
                      message_id: int | None = None) -> None:
        try:
            await self.send(recipient, replies)
        except TelegramRetryAfter as exc:
            raise RetryLater(exc.retry_after) from exc
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message) from exc

    async def send_text(self, recipient: str, reply: Text) -> None:
        markup = inline_keyboard(reply.buttons)
        keyed = f"message:{recipient}:{reply.key}" if reply.key else None
        message_id = await self._keyed_message(keyed) if keyed else None
        if message_id is not None:
            try:  # the same key: edit the message sent before (a progress line)
                await self.bot.edit_message_text(text=reply.text, chat_id=int(recipient),
                                                 message_id=message_id, reply_markup=markup)
                return
            except TelegramBadRequest as error:
                if "not modified" in error.message:
                    return
                log.info("telegram: can't edit message %s in %s (%s); sending anew",
                         message_id, recipient, error.message)
        sent = await self.bot.send_message(int(recipient), reply.text, reply_markup=markup)
        if keyed:
            now = self.core.services.clock.now()
            async with self.core.unit_of_work() as uow:
                await uow.channel_notes.keep(CHANNEL, keyed, sent.message_id, now + KEYED_LIFETIME)
                await uow.commit()

    async def _keyed_message(self, keyed: str) -> int | None:
        """The message sent with this key before, by any process."""
        async with self.core.unit_of_work() as uow:
            note = await uow.channel_notes.read(CHANNEL, keyed, self.core.services.clock.now())
        return int(note.value) if note is not None else None

    async def send_document(self, recipient: str, reply: Document) -> None:
        try:  # streamed from the disk by aiogram
            await self.bot.send_document(int(recipient), FSInputFile(reply.path, filename=reply.filename),
                                         caption=reply.caption or None)
        except TelegramRetryAfter:
            raise  # the file stays for the second try
        except BaseException:
            discard(reply)
            raise
        discard(reply)

    async def send_picture(self, recipient: str, reply: Picture) -> None:
        cached = self._photo_ids.get(reply.cache_key) if reply.cache_key else None
        name = "picture.jpg" if reply.image.startswith(b"\xff\xd8") else "picture.png"
        photo = cached or BufferedInputFile(reply.image, filename=name)
        sent = await self.bot.send_photo(int(recipient), photo, caption=reply.caption,
                                         reply_markup=inline_keyboard(reply.buttons))
        if reply.cache_key and sent.photo:
            self._photo_ids.put(reply.cache_key, sent.photo[-1].file_id)

    async def ask_contact(self, recipient: str, reply: AskContact) -> None:
        markup = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text=reply.button_label, request_contact=True)]],
            resize_keyboard=True, one_time_keyboard=True,
        )
        await self.bot.send_message(int(recipient), reply.text, reply_markup=markup)
