"""Staff invite links: an admin makes one with /invite; whoever opens it becomes a cashier
or an admin (once, within 24 hours)."""

from __future__ import annotations

from bot.console.invites import INVITE_LIFETIME, INVITE_PREFIX, ROLES, create_invite, hash_token
from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.replies import Reply, Text
from bot.core.routing import Router
from bot.handlers.command_menus import command_menu
from bot.handlers.console import console
from bot.handlers.desk import ADMIN, desk, staff_only

router = Router()

ROLE_NAMES = {"admin": N_("an administrator"), "cashier": N_("a cashier")}


@router.gate
async def accept_invite(event: Event, ctx: Context) -> list[Reply] | None:
    if not (event.kind is EventKind.COMMAND and event.command == "start"
            and (event.payload or "").startswith(INVITE_PREFIX)):
        return None
    token = (event.payload or "").removeprefix(INVITE_PREFIX)
    invite = await ctx.uow.staff.use_invite(hash_token(token), ctx.identity.id, ctx.now)
    if invite is None:
        return [Text(ctx._("This invite link has already been used, has expired or is not "
                           "valid. Please ask the owner for a new one."))]
    if invite.created_by is None:  # the first admin: the other printed links die with it
        await ctx.uow.staff.revoke_bootstrap_invites()
    role = invite.role
    await ctx.uow.staff.grant(ctx.identity.id, role, invite.outlet_id, invite.created_by, ctx.now)
    ctx.role = "admin" if ctx.role == "admin" else role
    text = ctx._("You are now {role} of {shop}.").format(
        role=ctx._(ROLE_NAMES[role]), shop=ctx.settings.shop.name)
    if ctx.role == "admin":
        return [console(ctx, text), command_menu(ctx.role, ctx.t)]
    if not ctx.is_member:
        text += "\n" + ctx._("To get your own loyalty card as well, send /start.")
    return [Text(text), desk(ctx), command_menu(ctx.role, ctx.t)]


router.gate(staff_only(router, ADMIN))  # after the invite gate: anyone may open a link


def invite_line(ctx: Context, role: str) -> str:
    hours = int(INVITE_LIFETIME.total_seconds() // 3600)
    return ctx.t.ngettext("A one-time invite link (role: {role}), valid for {hours} hour:",
                          "A one-time invite link (role: {role}), valid for {hours} hours:",
                          hours).format(role=ctx._(ROLE_NAMES[role]), hours=hours)


@router.command("invite")
async def invite(event: Event, ctx: Context) -> list[Reply]:
    """/invite cashier, /invite admin, optionally with the outlet's name: /invite cashier Mall"""
    _ = ctx._
    role, _sep, wanted = (event.payload or "").strip().partition(" ")
    role, wanted, outlet = role.lower(), wanted.strip(), None
    if role not in ROLES:
        return [Text(_("Send /invite cashier or /invite admin, optionally with the outlet's "
                       "name: /invite cashier {outlet}").format(
            outlet=(await ctx.uow.outlets.default()).name))]
    if wanted:
        outlets = await ctx.uow.outlets.all()
        outlet = next((o for o in outlets if o.name.casefold() == wanted.casefold()), None)
        if outlet is None:
            return [Text(_("There is no outlet «{name}». The outlets: {outlets}.").format(
                name=wanted, outlets=", ".join(o.name for o in outlets)))]
    payload = await create_invite(ctx.uow, role, ctx.identity.id, ctx.now,
                                  outlet.id if outlet else None)
    where = _("Outlet: {outlet}.").format(outlet=outlet.name) if outlet else ""
    return [Text("\n".join(filter(None, [
        invite_line(ctx, role),
        ctx.channel.deep_link(payload),
        where,
        _("Send it only to that person: whoever opens it first gets the role."),
    ])))]
