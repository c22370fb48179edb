"""The staff list for admins (/staff): who is a cashier or an admin, where, and «Remove»
(with a confirmation; an admin can't remove themselves; the removed person is told)."""

from __future__ import annotations

from bot.context import Context
from bot.events import Event
from bot.handlers.desk import ADMIN, staff_only
from bot.handlers.staff import ROLE_NAMES
from bot.i18n import N_, Translator
from bot.notify import Notification
from bot.replies import Button, Reply, Text, keyboard
from bot.routing import Router
from bot.storage.roster import Roster, StaffEntry

router = Router()
router.gate(staff_only(router, ADMIN))

ROLE_TITLES = {"admin": N_("Administrator"), "cashier": N_("Cashier")}


def who(ctx: Context, entry: StaffEntry) -> str:
    return ctx._("{name} ({channel})").format(name=entry.name or entry.external_id,
                                              channel=entry.channel)


@router.command("staff")
@router.button("staff.list")
async def show_staff(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    entries = await Roster(ctx.uow.session).entries()
    lines = [_("The staff:")]
    for entry in entries:
        line = _("• {role}: {who}").format(role=_(ROLE_TITLES[entry.role]), who=who(ctx, entry))
        lines.append(line + (_(", outlet «{outlet}»").format(outlet=entry.outlet) if entry.outlet else ""))
    if ctx.settings.admins:
        lines.append(_("Administrators from the config file: {admins}").format(
            admins=", ".join(ctx.settings.admins)))
    lines.append(_("Invite someone: /invite cashier or /invite admin."))
    buttons = [[Button(_("Remove {who}").format(who=who(ctx, e)), f"staff.rm:{e.identity_id}")]
               for e in entries if e.identity_id != ctx.identity.id]
    return [Text("\n".join(lines), keyboard(*buttons))]


async def target(ctx: Context, event: Event) -> StaffEntry | None:
    identity_id = (event.payload or "").partition(":")[2]
    return await Roster(ctx.uow.session).entry(int(identity_id)) if identity_id.isdigit() else None


@router.button("staff.rm")
async def ask_removal(event: Event, ctx: Context) -> list[Reply]:
    _, entry = ctx._, await target(ctx, event)
    if entry is None:
        return [Text(_("This person is not on the staff any more."))]
    if entry.identity_id == ctx.identity.id:
        return [Text(_("You can't remove yourself."))]
    return [Text(_("{role} {who}: remove from the staff?").format(
        who=who(ctx, entry), role=_(ROLE_TITLES[entry.role])), keyboard(
        [Button(_("Yes, remove"), f"staff.rm-ok:{entry.identity_id}")],
        [Button(_("✖ Cancel"), "staff.keep")]))]


@router.button("staff.rm-ok")
async def remove(event: Event, ctx: Context) -> list[Reply]:
    _, entry = ctx._, await target(ctx, event)
    if entry is None:
        return [Text(_("This person is not on the staff any more."))]
    if entry.identity_id == ctx.identity.id:
        return [Text(_("You can't remove yourself."))]
    await Roster(ctx.uow.session).remove(entry.identity_id)
    ctx.notify(removal_notice(entry, ctx.settings.shop.name))
    return [Text(_("{who} is not on the staff any more.").format(who=who(ctx, entry)))]


@router.button("staff.keep")
async def keep(event: Event, ctx: Context) -> list[Reply]:
    return [Text(ctx._("Nobody was removed."))]


def removal_notice(entry: StaffEntry, shop: str) -> Notification:
    def render(t: Translator) -> list[Reply]:
        return [Text(t.gettext("You are no longer {role} of {shop}.").format(
            role=t.gettext(ROLE_NAMES[entry.role]), shop=shop))]

    return Notification(render, identity_id=entry.identity_id)
