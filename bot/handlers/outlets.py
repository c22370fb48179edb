"""The outlets and their POS API keys for admins (/outlets, or «Outlets and POS keys» under
/staff): add an outlet, create a key for a till (an admin key, which also reads the reports,
only by its own button and a warning), revoke a key after a confirmation. A new key is shown
once, in the reply, and only its hash is kept. Every change is written with an audit entry.

States: ``outlets.name`` (the new outlet's name is typed); ``outlets.label`` {outlet_id,
role} (the new key's name is typed, and the key is made). A button carries the ids it acts
on; a second tap on «Revoke» finds the key revoked and changes nothing.
"""

from __future__ import annotations

from bot.api.keys import issue_key
from bot.console import audit
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.handlers.desk import ADMIN, staff_only
from bot.storage.views import KeyView, OutletView

router = Router()
router.gate(staff_only(router, ADMIN))

NAME_LENGTH = range(1, 65)  # the columns of outlets.name and pos_keys.label
KEY_ROLES = {"till": N_("till key"), "admin": N_("admin key (reads the reports too)")}


def key_name(ctx: Context, key: KeyView) -> str:
    return ctx._("«{label}»").format(label=key.label) if key.label else ctx._("№{id}").format(id=key.id)


def key_line(ctx: Context, key: KeyView) -> str:
    return ctx._("• {name}: {role}, created {date}").format(
        name=key_name(ctx, key), role=ctx._(KEY_ROLES[key.role]),
        date=ctx.t.date(ctx.local(key.created_at).date()))


def id_in(event: Event) -> int | None:
    """The id a button's payload carries (``ol.x:<id>[:…]``), if it is a number."""
    typed = (event.payload or "").split(":")[1:2]
    return row_id(typed[0]) if typed else None


def typed_name(event: Event) -> str:
    return " ".join((event.text or "").split())


def back(ctx: Context) -> Button:
    return Button(ctx._("⬅️ All outlets"), "ol.list")


# --- the list and one outlet -----------------------------------------------------------

@router.command("outlets")
@router.button("ol.list")
async def show_outlets(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    outlets, keys = await ctx.uow.outlets.all(), await ctx.uow.outlets.live_keys()
    lines = [_("Outlets and their POS API keys (a till system uses a key to find cards and "
               "record purchases):")]
    for outlet in outlets:
        own = [key_line(ctx, key) for key in keys if key.outlet_id == outlet.id]
        lines += ["", "🏪 " + outlet.name, *(own or [_("• no keys")])]
    rows = [[Button("🏪 " + outlet.name, f"ol.o:{outlet.id}")] for outlet in outlets]
    return [Text("\n".join(lines), keyboard(*rows, [Button(_("➕ Add an outlet"), "ol.add")]))]


async def outlet_screen(ctx: Context, outlet: OutletView, head: str | None = None) -> list[Reply]:
    _ = ctx._
    keys = await ctx.uow.outlets.live_keys(outlet.id)
    lines = [head, "🏪 " + outlet.name, *([key_line(ctx, key) for key in keys] or [_("• no keys")])]
    return [Text("\n".join(filter(None, lines)), keyboard(
        [Button(_("🔑 New till key"), f"ol.key:{outlet.id}")],
        [Button(_("🔑 New admin key (reports)"), f"ol.adm:{outlet.id}")],
        *([Button(_("✖ Revoke {name}").format(name=key_name(ctx, key)), f"ol.rv:{key.id}")]
          for key in keys),
        [back(ctx)]))]


async def outlet_of(ctx: Context, outlet_id: int | None) -> OutletView | None:
    return await ctx.uow.outlets.get(outlet_id) if outlet_id is not None else None


def no_outlet(ctx: Context) -> list[Reply]:
    return [Text(ctx._("There is no such outlet any more. Send /outlets to see them."))]


@router.button("ol.o")
async def show_outlet(event: Event, ctx: Context) -> list[Reply]:
    outlet = await outlet_of(ctx, id_in(event))
    return no_outlet(ctx) if outlet is None else await outlet_screen(ctx, outlet)


# --- adding an outlet ------------------------------------------------------------------

@router.button("ol.add")
async def ask_outlet_name(event: Event, ctx: Context) -> list[Reply]:
    ctx.state.go("outlets.name")
    return [Text(ctx._("Type the new outlet's name (up to 64 characters), e.g. «Mall».\n"
                       "Send /outlets to cancel."))]


@router.state("outlets.name")
async def add_outlet(event: Event, ctx: Context) -> list[Reply]:
    _, name = ctx._, typed_name(event)
    if len(name) not in NAME_LENGTH:
        return [Text(_("An outlet's name is 1 to 64 characters. Please type it again."))]
    outlets = await ctx.uow.outlets.all()
    if any(outlet.name.casefold() == name.casefold() for outlet in outlets):
        return [Text(_("There is already an outlet «{name}». Please type another name.").format(
            name=name))]
    outlet = await ctx.uow.outlets.add(name, ctx.now)
    await audit.record(ctx.uow, ctx.identity.id, "outlet_add", at=ctx.now, outlet_id=outlet.id,
                       name=outlet.name)
    ctx.state.clear()
    return await outlet_screen(ctx, outlet, _("✅ The outlet «{name}» is added.").format(name=name))


# --- creating a key --------------------------------------------------------------------

@router.button("ol.adm")
async def warn_about_admin_key(event: Event, ctx: Context) -> list[Reply]:
    _, outlet = ctx._, await outlet_of(ctx, id_in(event))
    if outlet is None:
        return no_outlet(ctx)
    return [Text(_("An admin key records purchases and also reads the program's reports. Give "
                   "it only to the back office, never to a till. Create one for «{outlet}»?").format(
        outlet=outlet.name), keyboard(
        [Button(_("Yes, an admin key"), f"ol.key:{outlet.id}:admin")],
        [Button(_("✖ Cancel"), f"ol.o:{outlet.id}")]))]


@router.button("ol.key")
async def ask_key_name(event: Event, ctx: Context) -> list[Reply]:
    outlet = await outlet_of(ctx, id_in(event))
    if outlet is None:
        return no_outlet(ctx)
    role = "admin" if (event.payload or "").endswith(":admin") else "till"
    ctx.state.go("outlets.label", outlet_id=outlet.id, role=role)
    return [Text(ctx._("A new {role} for «{outlet}». Type its name, e.g. the till's: «Till 1» "
                       "(up to 64 characters).\nSend /outlets to cancel.").format(
        role=ctx._(KEY_ROLES[role]), outlet=outlet.name))]


@router.state("outlets.label")
async def create_key(event: Event, ctx: Context) -> list[Reply]:
    _, label = ctx._, typed_name(event)
    if len(label) not in NAME_LENGTH:
        return [Text(_("A key's name is 1 to 64 characters. Please type it again."))]
    wanted = ctx.state.data
    ctx.state.clear()
    outlet = await outlet_of(ctx, wanted.get("outlet_id"))
    if outlet is None:
        return no_outlet(ctx)
    key, secret = await issue_key(ctx.uow, outlet.id, label, ctx.now, wanted.get("role", "till"))
    await audit.record(ctx.uow, ctx.identity.id, "key_create", at=ctx.now, key_id=key.id,
                       outlet_id=outlet.id, role=key.role, label=label)
    return [Text(_("The new {role} {name} for «{outlet}»:").format(
                role=_(KEY_ROLES[key.role]), name=key_name(ctx, key), outlet=outlet.name)),
            Text(secret),
            Text(_("⚠️ The key is shown only this once and can't be shown again: copy it into "
                   "the till system now and keep it safe. If it is lost, revoke it and create "
                   "a new one."), keyboard([Button(_("⬅️ Back to «{outlet}»").format(
                       outlet=outlet.name), f"ol.o:{outlet.id}")]))]


# --- revoking a key --------------------------------------------------------------------

async def live_key(ctx: Context, event: Event) -> tuple[KeyView, OutletView] | Text:
    """The key a «Revoke» button names and its outlet, or why it can't be revoked."""
    key = await ctx.uow.outlets.key(key_id) if (key_id := id_in(event)) is not None else None
    outlet = await outlet_of(ctx, key.outlet_id) if key is not None else None
    if key is None or outlet is None or key.revoked_at is not None:
        return Text(ctx._("This key has already been revoked. Send /outlets to see the keys."))
    return key, outlet


@router.button("ol.rv")
async def ask_revocation(event: Event, ctx: Context) -> list[Reply]:
    _, found = ctx._, await live_key(ctx, event)
    if isinstance(found, Text):
        return [found]
    key, outlet = found
    return [Text(_("Revoke the {role} {name} of «{outlet}»? Whatever uses it will be refused at "
                   "once.").format(role=_(KEY_ROLES[key.role]), name=key_name(ctx, key),
                                   outlet=outlet.name), keyboard(
        [Button(_("Yes, revoke"), f"ol.rv-ok:{key.id}")],
        [Button(_("✖ Cancel"), f"ol.o:{outlet.id}")]))]


@router.button("ol.rv-ok")
async def revoke(event: Event, ctx: Context) -> list[Reply]:
    found = await live_key(ctx, event)
    if isinstance(found, Text):
        return [found]
    key, outlet = found
    await ctx.uow.outlets.revoke_key(key.id, ctx.now)
    await audit.record(ctx.uow, ctx.identity.id, "key_revoke", at=ctx.now, key_id=key.id,
                       outlet_id=outlet.id, role=key.role, label=key.label)
    return await outlet_screen(ctx, outlet, ctx._(
        "✅ The key {name} is revoked: the POS API refuses it from now on.").format(
        name=key_name(ctx, key)))
