"""What the core receives: one event type with typed kinds, whatever the channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from bot.core.text import has_controls

ID_LENGTH = 64  # what identities.external_id and processed_events.event_id hold


class EventKind(Enum):
    TEXT = "text"
    COMMAND = "command"  # "/start ref_abc" → command="start", payload="ref_abc"
    BUTTON = "button"  # a pressed button's payload
    CONTACT = "contact"  # a contact shared with the messenger's own button
    PHOTO = "photo"  # a picture (``image``), its caption in ``text``; only flows that take one use it
    UNSUPPORTED = "unsupported"  # sticker, voice, location, ...


def platform_id(value: object, length: int = ID_LENGTH) -> str | None:
    """A person's or a message's id as a platform sent it (a string, or an integer as
    text), when the database can keep it: 1 to ``length`` characters, no control character
    nor lone surrogate. None for anything else: a signed request can still carry any JSON,
    and such an id must not reach a query."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value) if abs(value) < 10 ** length else ""
    if not isinstance(value, str) or not 0 < len(value) <= length or has_controls(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person as the channel knows them."""

    channel: str
    external_id: str
    display_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class SharedContact:
    phone: str
    is_own: bool  # the messenger vouches that this is the sender's own number


@dataclass(frozen=True, slots=True)
class Event:
    user: UserRef
    kind: EventKind
    text: str = ""
    command: str | None = None
    payload: str | None = None
    contact: SharedContact | None = None
    event_id: str | None = None  # the platform's id, for handling redeliveries once
    image: bytes | None = None  # a PHOTO's bytes (JPEG from Telegram), or ...
    fetch_image: Callable[[], Awaitable[bytes | None]] | None = None  # ... how to get them

    @property
    def argument(self) -> str:
        """What was typed after a command ("/stats 90" → "90"); nothing for a button, which
        opens the same screen as the bare command."""
        return (self.payload or "").strip() if self.kind is EventKind.COMMAND else ""

    async def picture(self) -> bytes | None:
        """A PHOTO's bytes; a channel that would have to download them does it only now,
        for the flow that takes a picture (nobody else's photo is fetched)."""
        if self.image is None and self.fetch_image is not None:
            return await self.fetch_image()
        return self.image

    @classmethod
    def from_text(cls, user: UserRef, text: str, event_id: str | None = None) -> Event:
        """A typed message; "/cmd payload" becomes a command event."""
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            head, _, rest = stripped[1:].partition(" ")
            command = head.split("@", 1)[0].lower()  # "/start@shop_bot" in group-style links
            return cls(user, EventKind.COMMAND, text=stripped, command=command,
                       payload=rest.strip() or None, event_id=event_id)
        return cls(user, EventKind.TEXT, text=text, event_id=event_id)
