"""The staff's desk: routes only staff may use, and what a cashier sees on /start.

Staff routes are taken by a gate that runs before the sign-up gate, so a cashier need not
be a customer. The role is checked on every event; anyone else gets a polite refusal and
nothing changes. A command abandons a half-typed input, and so does a button, except that
the buttons of a staff flow keep its state (each carries the id of the draft it belongs
to, and its handler checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.after_commit import Answer
from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Gate, Router
from bot.handlers.menu import start
from bot.handlers.signup import sign_up
from bot.storage.views import OutletView

router = Router()

STAFF = ("cashier", "admin")
ADMIN = ("admin",)
REFUSALS = {
    STAFF: N_("Sorry, this is only for the shop's staff."),
    ADMIN: N_("Sorry, only an administrator can do this."),
}
ROUTED = (EventKind.COMMAND, EventKind.BUTTON, EventKind.TEXT)
STAFF_FLOWS = ("checkout.", "refund.", "customer.", "program.")  # states their buttons keep


def routed(event: Event) -> bool:
    """What the staff's routes take: commands, buttons, text, and a contact that is not the
    sender's (a customer's, shared at the checkout: its number, read as typed)."""
    return event.kind in ROUTED or (event.contact is not None and not event.contact.is_own)


def refusal(ctx: Context, roles: tuple[str, ...]) -> str:
    staff = ctx.identity.staff
    if staff is not None and staff.blocked_at is not None:
        return N_("An administrator has paused your access to the checkout. Please talk to them.")
    return REFUSALS[roles]


def staff_only(routes: Router, roles: tuple[str, ...]) -> Gate:
    """A gate that serves ``routes`` (a module's own router) to these roles only."""

    async def gate(event: Event, ctx: Context) -> Sequence[Answer] | None:
        handler = routes.resolve(event, ctx.state.name) if routed(event) else None
        if handler is None or (event.kind is EventKind.CONTACT and ctx.role not in roles):
            return None  # a contact is a staff flow's input for the staff alone
        if ctx.role not in roles:
            if event.kind is EventKind.TEXT:  # a flow left over from when they were staff
                ctx.state.clear()
            return [Text(ctx._(refusal(ctx, roles)))]
        if ctx.state.name and (event.kind is EventKind.COMMAND or (
                event.kind is EventKind.BUTTON and not ctx.state.name.startswith(STAFF_FLOWS))):
            ctx.state.clear()
        return await handler(event, ctx)

    return gate


async def outlet_of(ctx: Context) -> OutletView:
    """The outlet a staff member works at; the first one for admins listed in the config."""
    staff = ctx.identity.staff
    if staff is not None and staff.outlet_id is not None:
        outlet = await ctx.uow.outlets.get(staff.outlet_id)
        if outlet is not None:
            return outlet
    return await ctx.uow.outlets.default()


def desk(ctx: Context) -> Text:
    """A cashier's desk (an admin's /start opens the console: bot/handlers/console.py)."""
    _ = ctx._
    lines = [_("At the checkout: scan the customer's QR code with the phone camera, or send "
               "/checkout and type the card number or the phone."),
             _("Refund a purchase: /refund <receipt>, or /refund <receipt> <amount> for a part.")]
    return Text("\n".join(lines), keyboard([Button(_("🧾 Checkout"), "co.start")]))


@router.gate
async def staff_start(event: Event, ctx: Context) -> list[Reply] | None:
    """/start of a cashier: the usual answer (sign-up or the menu), then the desk."""
    if not (ctx.role and event.kind is EventKind.COMMAND and event.command == "start"
            and not event.payload):
        return None
    if ctx.state.name:
        ctx.state.clear()
    usual = await sign_up(event, ctx) or await start(event, ctx)
    return [*usual, desk(ctx)]
