"""What the core answers with. Channels render these; poorer channels fall back to text."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class Picture:
    image: bytes  # PNG
    caption: str = ""
    buttons: Keyboard = ()
    cache_key: str | None = None  # same key, same image: channels may reuse an upload


@dataclass(frozen=True, slots=True)
class AskContact:
    """Ask for the phone with the messenger's own "share contact" button if it has one."""

    text: str
    button_label: str


Reply = Text | Picture | AskContact


def keyboard(*rows: list[Button] | tuple[Button, ...]) -> Keyboard:
    return tuple(tuple(row) for row in rows if row)
