"""What the core answers with. Channels render these; poorer channels fall back to text."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str | None = None  # sent back as a BUTTON event
    url: str | None = None  # or opens a link


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    buttons: Keyboard = ()
    key: str | None = None  # a later Text with the same key replaces this one where it can


@dataclass(frozen=True, slots=True)
class Picture:
    image: bytes  # PNG
    caption: str = ""
    buttons: Keyboard = ()
    cache_key: str | None = None  # same key, same image: channels may reuse an upload
    stored: str | None = None  # the image is kept under this reference; the outbox keeps only it


@dataclass(frozen=True, slots=True)
class AskContact:
    """Ask for the phone with the messenger's own "share contact" button if it has one."""

    text: str
    button_label: str


@dataclass(frozen=True, slots=True)
class Document:
    """A file to download (an export). It stays on disk until sent, so a large one is never
    held in memory; the sender deletes it once ``remove_after`` is set."""

    path: str
    filename: str
    caption: str = ""
    remove_after: bool = True


@dataclass(frozen=True, slots=True)
class CommandMenu:
    """The person's own list of commands in the messenger's menu (Telegram's «Menu»), as
    (command, description) pairs for their role; none: back to the menu everybody gets.
    A platform without such a menu ignores it."""

    commands: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    """A hint for a platform that needs a pre-approved message to write first (WhatsApp
    outside its 24-hour window): the configured template ``key`` (a trigger's name, or
    "broadcast") filled with ``params``. The other replies are what it stands for; every
    other channel ignores it."""

    key: str
    params: tuple[tuple[str, str], ...] = ()  # (placeholder, value)


Reply = Text | Picture | AskContact | Document | CommandMenu | Template


def keyboard(*rows: list[Button] | tuple[Button, ...]) -> Keyboard:
    return tuple(tuple(row) for row in rows if row)


# --- stored form (the outbox keeps rendered replies as JSON) ----------------------------

def _buttons_to_json(buttons: Keyboard) -> list[list[dict[str, str | None]]]:
    return [[{"label": b.label, "payload": b.payload, "url": b.url} for b in row] for row in buttons]


def _buttons_from_json(rows: list[list[dict[str, str | None]]]) -> Keyboard:
    return tuple(tuple(Button(str(b["label"]), b.get("payload"), b.get("url")) for b in row)
                 for row in rows)


def to_json(reply: Reply) -> dict[str, Any]:
    match reply:
        case Text(text, buttons, key):
            return {"type": "text", "text": text, "buttons": _buttons_to_json(buttons), "key": key}
        case Picture(image, caption, buttons, cache_key, stored):
            return {"type": "picture",
                    "image": "" if stored else base64.b64encode(image).decode("ascii"),
                    "caption": caption, "buttons": _buttons_to_json(buttons),
                    "cache_key": cache_key, "stored": stored}
        case AskContact(text, button_label):
            return {"type": "ask_contact", "text": text, "button_label": button_label}
        case Document(path, filename, caption, remove_after):
            return {"type": "document", "path": path, "filename": filename, "caption": caption,
                    "remove_after": remove_after}
        case CommandMenu(commands):
            return {"type": "command_menu", "commands": [list(pair) for pair in commands]}
        case Template(key, params):
            return {"type": "template", "key": key, "params": dict(params)}
    raise TypeError(f"not a reply: {reply!r}")


def from_json(data: dict[str, Any]) -> Reply:
    match data["type"]:
        case "text":
            return Text(data["text"], _buttons_from_json(data.get("buttons", [])), data.get("key"))
        case "picture":
            return Picture(base64.b64decode(data["image"]), data.get("caption", ""),
                           _buttons_from_json(data.get("buttons", [])), data.get("cache_key"),
                           data.get("stored"))
        case "ask_contact":
            return AskContact(data["text"], data["button_label"])
        case "document":
            return Document(data["path"], data["filename"], data.get("caption", ""),
                            data.get("remove_after", True))
        case "command_menu":
            return CommandMenu(tuple((name, text) for name, text in data["commands"]))
        case "template":
            return Template(data["key"], tuple(data.get("params", {}).items()))
    raise ValueError(f"unknown reply type {data['type']!r}")
