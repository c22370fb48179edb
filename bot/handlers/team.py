"""The staff list for admins (/staff): who is a cashier or an admin, where, and «Remove»
(with a confirmation; an admin can't remove themselves; the removed person is told)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_, Translator
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.delivery.notify import Notification
from bot.handlers.command_menus import command_menu, configured_admins
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty.people import person
from bot.storage.repositories import StaffEntry

router = Router()
router.gate(staff_only(router, ADMIN))

ROLE_TITLES = {"admin": N_("Administrator"), "cashier": N_("Cashier")}
def who(ctx: Context, entry: StaffEntry) -> str:
    return person(ctx._, entry.channel, entry.external_id, entry.name)


def staff_block_button(ctx: Context, entry: StaffEntry, blocked: bool) -> Button:
    """Block or unblock ``entry``, as ``blocked`` says they are now."""
    if blocked:
        return Button(ctx._("✅ Unblock {who}").format(who=who(ctx, entry)),
                      f"blk.staff-off:{entry.identity_id}")
    return Button(ctx._("⛔ Block {who}").format(who=who(ctx, entry)),
                  f"blk.staff:{entry.identity_id}")


@router.command("staff")
@router.button("staff.list")
async def show_staff(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    entries = await ctx.uow.roster.entries()
    lines = [_("The staff:")]
    for entry in entries:
        line = _("• {role}: {who}").format(role=_(ROLE_TITLES[entry.role]), who=who(ctx, entry))
        line += _(", outlet «{outlet}»").format(outlet=entry.outlet) if entry.outlet else ""
        lines.append(line + (_(" — ⛔ blocked") if entry.blocked else ""))
    if ctx.settings.admins:
        refs = [(channel, external_id) for channel, _sep, external_id
                in (admin.partition(":") for admin in ctx.settings.admins)]
        names = await ctx.uow.roster.names(refs)
        lines.append(_("Administrators from the config file: {admins}").format(admins=", ".join(
            person(ctx._, channel, external_id, names.get((channel, external_id)))
            for channel, external_id in refs)))
    lines.append(_("Invite someone: /invite cashier or /invite admin."))
    buttons = [[Button(_("Remove {who}").format(who=who(ctx, e)), f"staff.rm:{e.identity_id}")]
               for e in entries if e.identity_id != ctx.identity.id]
    buttons += [[staff_block_button(ctx, e, blocked=True)] for e in entries if e.blocked]
    return [Text("\n".join(lines), keyboard(
        *buttons, [Button(_("🏪 Outlets and POS keys"), "ol.list")]))]


async def removable(ctx: Context, event: Event) -> StaffEntry | Text:
    """The staff member a «Remove» button names, or why they can't be removed."""
    identity_id = row_id((event.payload or "").partition(":")[2])
    entry = await ctx.uow.roster.entry(identity_id) if identity_id is not None else None
    if entry is None:
        return Text(ctx._("This person is not on the staff any more."))
    if entry.identity_id == ctx.identity.id:
        return Text(ctx._("You can't remove yourself."))
    return entry


@router.button("staff.rm")
async def ask_removal(event: Event, ctx: Context) -> list[Reply]:
    _, entry = ctx._, await removable(ctx, event)
    if isinstance(entry, Text):
        return [entry]
    return [Text(_("{role} {who}: remove from the staff?").format(
        who=who(ctx, entry), role=_(ROLE_TITLES[entry.role])), keyboard(
        [Button(_("Yes, remove"), f"staff.rm-ok:{entry.identity_id}")],
        [Button(_("✖ Cancel"), "staff.keep")]))]


@router.button("staff.rm-ok")
async def remove(event: Event, ctx: Context) -> list[Reply]:
    entry = await removable(ctx, event)
    if isinstance(entry, Text):
        return [entry]
    await ctx.uow.roster.remove(entry.identity_id)
    still_admin = entry.external_id in configured_admins(ctx.settings, entry.channel)
    ctx.notify(removal_notice(entry, ctx.settings.shop.name, "admin" if still_admin else None))
    return [Text(ctx._("{who} is not on the staff any more.").format(who=who(ctx, entry)))]


@router.button("staff.keep")
async def keep(event: Event, ctx: Context) -> list[Reply]:
    return [Text(ctx._("Nobody was removed."))]


def removal_notice(entry: StaffEntry, shop: str, role_left: str | None) -> Notification:
    """The news, and the command menu of the role they still have (an admin by the config
    file stays one)."""
    def render(t: Translator) -> list[Reply]:
        return [Text(t.gettext("You were removed from the staff of {shop}.").format(shop=shop)),
                command_menu(role_left, t)]

    return Notification(render, identity_id=entry.identity_id)
