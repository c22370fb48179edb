"""What the web chat page's own controls say and offer to one visitor: the input's
placeholders, the Send button, the picture viewer's labels, in the visitor's language, and
the command menu of their role (customer, cashier or admin), as Telegram's «Menu» lists it.

The page is long-lived (one WebSocket), while a reply may change the language (Settings)
or the role (an invite accepted, a removal from the staff). So the server works the controls
out from the person as stored, by the same rules the core answers by, and the page applies
whatever the server last sent: in the page itself, with the history on connecting, and as a
``ui`` frame whenever they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.core.conversation import chosen_locale, role_of
from bot.core.i18n import N_
from bot.handlers.command_menus import menu_of

if TYPE_CHECKING:
    from bot.core.conversation import Core

TEXTS = {
    "placeholder": N_("Type a message"),
    "phone_placeholder": N_("Your phone number"),
    "send": N_("Send"),
    "offline": N_("Connection lost, reconnecting…"),
    "menu": N_("Commands"),
    "picture": N_("Picture"),
    "open_picture": N_("Tap to open the picture full size"),
    "close": N_("Close"),
}


@dataclass(frozen=True, slots=True)
class Controls:
    locale: str
    texts: dict[str, str]  # TEXTS' keys, translated
    commands: tuple[tuple[str, str], ...]  # (command, description)

    def frame(self) -> dict[str, Any]:
        return {"type": "ui", "lang": self.locale, "texts": self.texts,
                "commands": [{"command": name, "description": text}
                             for name, text in self.commands]}


async def controls_for(core: Core, channel: str, visitor: str | None,
                       browser_language: str | None = None) -> Controls:
    """The controls of ``visitor`` (None: someone new). The language: the one chosen in
    Settings, else the browser's (now, or as last reported), else the shop's default."""
    identity = None
    if visitor is not None:
        async with core.unit_of_work() as uow:
            identity = await uow.identities.find(channel, visitor)
    i18n = core.services.i18n
    if identity is None:
        locale, role = i18n.choose(browser_language), None
    else:
        locale = i18n.for_person(chosen_locale(identity),
                                 browser_language or identity.messenger_locale)
        role = role_of(identity, core.services.settings.admins)
    t = i18n.translator(locale)
    return Controls(t.locale, {key: t.gettext(text) for key, text in TEXTS.items()},
                    menu_of(role, t))
