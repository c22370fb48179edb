"""WhatsApp Cloud API webhook requests → core events: the signature check and the payload.

A payload is ``entry[].changes[].value`` with ``metadata.phone_number_id``, the senders in
``contacts[]`` (``user_id``: the business-scoped user id, ``wa_id``: the number, absent when
the person hides it behind a username) and ``messages[]``. pywa's own update types read only
the first message of a payload and require ``user_id``, so the payload is read here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.core.events import Event, EventKind, SharedContact, UserRef, platform_id
from bot.core.keys import same_secret
from bot.core.text import without_controls

CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
OWN_PHONE = "whatsapp:own-phone"  # the payload of the "share my number" reply button
CONTACT_REQUEST = "contact_request"  # the origin of a number shared on the platform's request
WAMID_LENGTH = 128  # what whatsapp_sends keeps of the ids of the messages sent

FetchImage = Callable[[str], Awaitable[bytes | None]]


def signed(body: bytes, header: str | None, app_secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body under the app secret>``,
    compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return same_secret(header, expected)


@dataclass(frozen=True, slots=True)
class Incoming:
    event: Event
    wa_id: str | None  # the sender's own number (digits) when WhatsApp shows it


def incoming(payload: object, phone_id: str, fetch: FetchImage) -> Iterator[Incoming]:
    """The messages of a webhook payload sent to this business number, in order (delivery
    statuses and other fields are skipped; so is a message without its sender or its id)."""
    for value in _for_number(payload, phone_id):
        contacts = _objects(value.get("contacts"))
        for message in _objects(value.get("messages")):
            found = _incoming(message, _sender(message, contacts), fetch)
            if found is not None:
                yield found


def _object(value: object) -> dict[str, Any]:
    """A JSON object of the payload, or an empty one for anything else (a signed body can
    still be of any shape: what is not as documented is skipped, never an error)."""
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> list[dict[str, Any]]:
    """The objects of a JSON array of the payload (anything else: none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _for_number(payload: object, phone_id: str) -> Iterator[dict[str, Any]]:
    """The "messages" changes of a webhook payload addressed to this business number."""
    for entry in _objects(_object(payload).get("entry")):
        for change in _objects(entry.get("changes")):
            value = _object(change.get("value"))
            if change.get("field") == "messages" and \
                    _object(value.get("metadata")).get("phone_number_id") == phone_id:
                yield value


@dataclass(frozen=True, slots=True)
class Failure:
    """WhatsApp's later word that a message it had accepted was not delivered."""

    wamid: str
    code: int | None
    title: str


def failures(payload: object, phone_id: str) -> Iterator[Failure]:
    """The "failed" delivery statuses of a webhook payload for this business number."""
    for value in _for_number(payload, phone_id):
        for status in _objects(value.get("statuses")):
            wamid = platform_id(status.get("id"), WAMID_LENGTH)
            if status.get("status") == "failed" and wamid is not None:
                error = (_objects(status.get("errors")) or [{}])[0]
                code = error.get("code")
                yield Failure(wamid, code if isinstance(code, int) else None,
                              without_controls(str(error.get("title") or error.get("message")
                                                   or "failed")))


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    for contact in contacts:
        if (message.get("from") and contact.get("wa_id") == message.get("from")) or \
                (message.get("from_user_id") and contact.get("user_id") == message.get("from_user_id")):
            return contact
    return contacts[0] if contacts else {}


def _incoming(message: dict[str, Any], contact: dict[str, Any], fetch: FetchImage) -> Incoming | None:
    wa_id = _text(message.get("from")) or _text(contact.get("wa_id")) or None
    # keyed on the business-scoped id when there is one: it stays when the number is hidden
    external_id = platform_id(_text(contact.get("user_id")) or _text(message.get("from_user_id"))
                              or wa_id)
    if external_id is None or not _text(message.get("id")):
        return None  # nobody (we could keep) to answer, or nothing to recognise a redelivery by
    name = _text(_object(contact.get("profile")).get("name")).strip()[:64] or None
    user = UserRef(CHANNEL, external_id, display_name=name)
    return Incoming(_event(user, message, wa_id, fetch), wa_id)


def _event(user: UserRef, message: dict[str, Any], wa_id: str | None, fetch: FetchImage) -> Event:
    event_id = message.get("id")
    match message.get("type"):
        case "text":
            return Event.from_text(user, _text(_object(message.get("text")).get("body")), event_id)
        case "interactive" | "button":
            payload = _pressed(message)
            if payload == OWN_PHONE and wa_id:
                # the sender's own number, as WhatsApp delivers their messages from it
                return Event(user, EventKind.CONTACT, contact=SharedContact("+" + wa_id, True),
                             event_id=event_id)
            if payload is not None:
                return Event(user, EventKind.BUTTON, payload=payload, event_id=event_id)
        case "contacts":
            if (contact := _shared(message, wa_id)) is not None:
                return Event(user, EventKind.CONTACT, contact=contact, event_id=event_id)
        case "image":
            image = _object(message.get("image"))
            media_id = _text(image.get("id"))

            async def picture() -> bytes | None:
                return await fetch(media_id)

            return Event(user, EventKind.PHOTO, text=_text(image.get("caption")),
                         fetch_image=picture, event_id=event_id)
    return Event(user, EventKind.UNSUPPORTED, event_id=event_id)


def _pressed(message: dict[str, Any]) -> str | None:
    """A reply button's, a list row's or a template quick reply's payload."""
    if message.get("type") == "button":
        return _text(_object(message.get("button")).get("payload")) or None
    interactive = _object(message.get("interactive"))
    reply = _object(interactive.get("button_reply")) or _object(interactive.get("list_reply"))
    return _text(reply.get("id")) or None


def _shared(message: dict[str, Any], wa_id: str | None) -> SharedContact | None:
    """The first number of a shared contact. Only one shared on the platform's own request
    vouches for the sender (a contact card of somebody else never does)."""
    cards = _objects(message.get("contacts"))
    phones = _objects(cards[0].get("phones")) if cards else []
    if not phones:
        return None
    phone = phones[0]
    digits = "".join(ch for ch in str(phone.get("wa_id") or phone.get("phone") or "") if ch.isdigit())
    if not digits:
        return None
    origin = message.get("origin") or cards[0].get("origin")
    own = origin == CONTACT_REQUEST and (wa_id is None or digits == wa_id)
    return SharedContact("+" + digits, is_own=own)
