"""A chat-like test harness: push a message into the core, read the replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.config import Settings
from bot.core.context import ChannelInfo
from bot.core.conversation import Core
from bot.core.events import Event, EventKind, SharedContact, UserRef
from bot.core.replies import AskContact, Picture, Reply, Text


def channel_info(name: str, verified_contacts: bool) -> ChannelInfo:
    return ChannelInfo(name, verified_contacts, deep_link=lambda p: f"https://{name}.test/?start={p}")


OWNER = "1"  # telegram:1, the shop's admin in owner_settings


def owner_settings(db_url: str, **sections: object) -> Settings:
    """The test shop (as the ``settings`` fixture) with telegram:1 as its admin."""
    sections.setdefault("shop", {"name": "Coffee Point"})
    return Settings(database={"url": db_url}, card={"secret": "test-signing-key-0123456789"},
                    admins=[f"telegram:{OWNER}"], **sections)  # type: ignore[arg-type]


def with_messenger(settings: Settings, name: str, section: object, public_url: str) -> Settings:
    """The settings with a messenger's section (which switches it on) and the app's public
    address, as a shop running it would have."""
    return settings.model_copy(update={
        name: section, "web": settings.web.model_copy(update={"public_url": public_url})})


TELEGRAM_LIKE = channel_info("telegram", verified_contacts=True)
WEB_LIKE = channel_info("web", verified_contacts=False)


def text_of(replies: list[Reply]) -> str:
    """All the text a person reads, with no-break spaces shown as plain ones."""
    parts = []
    for reply in replies:
        match reply:
            case Text(text=text) | AskContact(text=text):
                parts.append(text)
            case Picture(caption=caption):
                parts.append(caption)
    return "\n".join(parts).replace("\xa0", " ").replace("\u202f", " ")


def payloads_of(replies: list[Reply]) -> list[str]:
    return [button.payload for reply in replies if isinstance(reply, (Text, Picture))
            for row in reply.buttons for button in row if button.payload]


@dataclass
class ChatUser:
    core: Core
    channel: ChannelInfo
    external_id: str
    name: str | None = "Ivan Petrov"
    language: str | None = "ru"
    last: list[Reply] = field(default_factory=list)
    # after each event: send what it queued for other people (the outbox), as the sender would
    flush: Callable[[], Awaitable[object]] | None = None

    @property
    def ref(self) -> UserRef:
        return UserRef(self.channel.name, self.external_id, self.name, self.language)

    async def push(self, event: Event) -> list[Reply]:
        self.last = await self.core.handle(event, self.channel)
        if self.flush is not None:
            await self.flush()
        return self.last

    async def send(self, text: str, event_id: str | None = None) -> list[Reply]:
        return await self.push(Event.from_text(self.ref, text, event_id=event_id))

    async def press(self, payload: str) -> list[Reply]:
        return await self.push(Event(self.ref, EventKind.BUTTON, payload=payload))

    async def share_contact(self, phone: str, own: bool = True) -> list[Reply]:
        return await self.push(Event(self.ref, EventKind.CONTACT, contact=SharedContact(phone, own)))

    async def sticker(self) -> list[Reply]:
        return await self.push(Event(self.ref, EventKind.UNSUPPORTED))

    async def sign_up(self, phone: str = "+79001234567", birthday: str | None = "14.03.1990") -> list[Reply]:
        await self.send("/start")
        await self.press("consent:yes")
        if self.channel.verified_contacts:
            await self.share_contact(phone)
        else:
            await self.send(phone)
        await self.press("name:profile") if self.name else await self.send("Anna")
        if birthday is None:
            return await self.press("birthday:skip")
        return await self.send(birthday)
