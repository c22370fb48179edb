"""The owner's console: an admin's /start and /help open one screen with a button for each
part of it (stats, segments, broadcast, customers, staff, outlets, settings, trigger reports,
export) and the list of the admin's commands.

Each button is the route its screen's own module answers (the same screen as the bare
command), so that module checks the role as it does for the command. An admin who has not
joined the program comes here, not to the customer's consent (a customer's command or an
unexpected message shows the console too, until they begin joining); «Join as a customer»
starts the sign-up, or goes on where it stopped. At most ten buttons of up to 24 characters: WhatsApp
shows them as one list.
"""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.command_menus import ADMIN_COMMANDS
from bot.handlers.desk import ADMIN, staff_only
from bot.handlers.menu import MENU_COMMANDS, main_menu
from bot.handlers.signup import next_step

router = Router()

SCREENS = (  # (label, the button its module routes)
    (N_("📊 Stats"), "st.open"),
    (N_("🎯 Segments"), "sg.open"),
    (N_("📣 Broadcast"), "bc.new"),
    (N_("🔎 Customers"), "cu.find"),
    (N_("👥 Staff"), "staff.list"),
    (N_("🏪 Outlets"), "ol.list"),
    (N_("⚙️ Settings"), "ps.v"),
    (N_("🔁 Triggers"), "tr.open"),
    (N_("📤 Export"), "ex.open"),
)
PER_ROW = 2
# the customer's commands (an admin's /settings is the program's), and the menu itself
CUSTOMER_COMMANDS = {name for name, _text in MENU_COMMANDS} - {"start", "settings"} | {
    "menu", "profile"}


def console(ctx: Context, head: str | None = None) -> Text:
    _ = ctx._
    lines = [head, ""] if head else []
    lines += [_("🛠 The console of {shop}. Choose a screen, or send a command:").format(
        shop=ctx.settings.shop.name)]
    lines += [f"/{name} — {_(text)}" for name, text in ADMIN_COMMANDS]
    buttons = [Button(_(label), payload) for label, payload in SCREENS]
    rows = [buttons[i:i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]
    if ctx.is_member:
        rows.append([Button(_("💳 My card and points"), "menu")])
    else:
        lines += ["", _("You are not a member of the program yourself. To collect points "
                        "too, join as a customer.")]
        rows.append([Button(_("🙋 Join as a customer"), "con.join")])
    return Text("\n".join(lines), keyboard(*rows))


def opens_console(event: Event) -> bool:
    """A bare /start (a link's /start goes to its own handler) or /help."""
    return event.kind is EventKind.COMMAND and (
        event.command == "help" or (event.command == "start" and not event.payload))


def needs_a_card(event: Event, ctx: Context) -> bool:
    """What an admin who has not begun joining would otherwise get the customer's consent
    for: a customer's command, or input no flow waits for."""
    if ctx.identity.consent_at is not None or ctx.state.name:
        return False
    if event.kind is EventKind.COMMAND:
        return event.command in CUSTOMER_COMMANDS
    return event.kind in (EventKind.TEXT, EventKind.PHOTO, EventKind.UNSUPPORTED)


@router.gate
async def console_start(event: Event, ctx: Context) -> list[Reply] | None:
    if ctx.role != "admin":
        return None
    if opens_console(event):
        if ctx.state.name:
            ctx.state.clear()
        return [console(ctx)]
    if needs_a_card(event, ctx):
        head = (ctx._("This is for members of the program: join as a customer first (the "
                      "button below).") if event.kind is EventKind.COMMAND else
                ctx._("I didn't catch that. Here is the console:"))
        return [console(ctx, head)]
    return None


router.gate(staff_only(router, ADMIN))


@router.button("con.join")
async def join(event: Event, ctx: Context) -> list[Reply]:
    """The customer's sign-up from its first step not yet done; a member gets their menu."""
    if ctx.is_member:
        return [main_menu(ctx)]
    return await next_step(ctx)
