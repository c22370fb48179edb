"""Each person's own command menu by role: admins see the owner's console commands, cashiers
the checkout ones, both on top of the customer's. Set for the staff when a channel starts
and sent (as a ``CommandMenu`` reply) when someone joins or leaves the staff."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.i18n import N_, Translator
from bot.core.replies import CommandMenu
from bot.handlers.menu import MENU_COMMANDS

if TYPE_CHECKING:
    from bot.core.conversation import Core

CASHIER_COMMANDS = (
    ("checkout", N_("Serve a customer at the checkout")),
    ("refund", N_("Refund a purchase")),
)
ADMIN_COMMANDS = (
    ("stats", N_("Program statistics")),
    ("segments", N_("Customer segments")),
    ("broadcast", N_("Send a broadcast")),
    ("customer", N_("Find a customer")),
    ("staff", N_("Staff")),
    ("outlets", N_("Outlets and POS keys")),
    ("triggers", N_("Trigger reports")),
    ("export", N_("Export to CSV or Excel")),
    ("settings", N_("Program settings")),
    *CASHIER_COMMANDS,
)
ROLE_COMMANDS = {"admin": ADMIN_COMMANDS, "cashier": CASHIER_COMMANDS}


def command_menu(role: str | None, t: Translator) -> CommandMenu:
    """The menu of this role in ``t``'s language; nobody's role: the menu everybody gets."""
    own = ROLE_COMMANDS.get(role or "", ())
    if not own:
        return CommandMenu()
    taken = {name for name, _text in own}  # an admin's /settings is the program's
    commands = [*own, *((name, text) for name, text in MENU_COMMANDS if name not in taken)]
    return CommandMenu(tuple((name, t.gettext(text)) for name, text in commands))


def menu_of(role: str | None, t: Translator) -> tuple[tuple[str, str], ...]:
    """Every command the person's menu lists, in ``t``'s language: their role's own, or the
    menu everybody gets (for a page that draws the whole menu itself)."""
    return command_menu(role, t).commands or tuple(
        (name, t.gettext(text)) for name, text in MENU_COMMANDS)


def configured_admins(settings: Settings, channel: str) -> set[str]:
    """The ids in ``channel`` of the admins listed in the config file."""
    return {external_id for name, _sep, external_id in (a.partition(":") for a in settings.admins)
            if name == channel}


async def staff_menus(core: Core, channel: str) -> list[tuple[str, CommandMenu]]:
    """(external id, menu) of every admin and cashier in ``channel``, in their language."""
    configured = configured_admins(core.services.settings, channel)
    async with core.unit_of_work() as uow:
        rows = await uow.roster.languages_in(channel, configured)
    people = {external_id: (role, (customer or identity, messenger))
              for external_id, role, customer, identity, messenger in rows}
    people.update({external_id: ("admin", people.get(external_id, (None, (None, None)))[1])
                   for external_id in configured})
    i18n = core.services.i18n
    return [(external_id, command_menu(role, i18n.translator(i18n.for_person(*locales))))
            for external_id, (role, locales) in sorted(people.items())]
