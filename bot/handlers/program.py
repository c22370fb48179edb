"""The owner's /settings (admins only): the rules in force, each trigger switched on or off,
and the shop's own text of a trigger per language, edited without a restart. A customer's
or a cashier's /settings is left to bot/handlers/settings.py as it was; an admin who is also
a member reaches their own settings with «My customer settings».

States: ``program.text`` {trigger, locale, draft} (the new text is typed) →
``program.confirm`` {…, text}. The draft id travels in the flow's buttons: a button of
another draft, or of a flow already finished, changes nothing. A switch carries the state
it sets (``ps.on:<trigger>`` / ``ps.off:<trigger>``), so an old button can't flip it back.
Every change is written with an audit entry (action "settings") and is read by the next
trigger pass (bot.loyalty.program_settings).
"""

from __future__ import annotations

import secrets
from typing import Any

from bot.config import Trigger, TriggersSettings
from bot.console import audit
from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty.program_rules import summary
from bot.loyalty.program_settings import (
    MAX_TEXT,
    TRIGGERS,
    BadText,
    allowed_placeholders,
    check_text,
    effective_triggers,
    overrides,
    set_enabled,
    set_text,
)
from bot.marketing.triggers import named, trigger_name

router = Router()
FLOW = "program."  # its states; the staff gate keeps them for the flow's buttons
#: The rules' sections, each changed in bot/handlers/program_rules.py.
SECTIONS = {"bonuses": N_("💰 Bonuses"), "tiers": N_("🏅 Tiers"), "rewards": N_("🎁 Rewards"),
            "holidays": N_("🎉 Holidays"), "messages": N_("🔕 Quiet hours and limits"),
            "history": N_("🕘 History")}


@router.gate
async def admin_settings(event: Event, ctx: Context) -> list[Reply] | None:
    """An admin's /settings is the program's; anyone else's goes on to the customer's."""
    if not (ctx.role == "admin" and event.kind is EventKind.COMMAND and event.command == "settings"):
        return None
    if ctx.state.name:
        ctx.state.clear()
    return await program_view(ctx)


router.gate(staff_only(router, ADMIN))


# --- the view -----------------------------------------------------------------------------

def title(ctx: Context, name: str, config: Trigger) -> str:
    """The trigger's one name (as /triggers says it) and its timing, short enough for a button."""
    return ctx._("{name} ({timing})").format(name=trigger_name(name, ctx._),
                                            timing=named(name).timing(ctx.t, config))


def state_label(ctx: Context, name: str, config: Trigger) -> str:
    return (ctx._("{title}: on") if config.enabled else ctx._("{title}: off")).format(
        title=title(ctx, name, config))


def section_buttons(ctx: Context) -> list[list[Button]]:
    buttons = [Button(ctx._(name), f"pr.s:{section}") for section, name in SECTIONS.items()]
    return [buttons[i:i + 2] for i in range(0, len(buttons), 2)]


def trigger_line(ctx: Context, name: str, config: Trigger) -> str:
    line = "• " + state_label(ctx, name, config)
    if config.gift_points:
        line += ctx._(", gift {points} for {days}").format(
            points=ctx.t.points(config.gift_points),
            days=ctx.t.ngettext("{n} day", "{n} days", config.gift_days).format(n=config.gift_days))
    return line


async def program_view(ctx: Context, head: str | None = None) -> list[Reply]:
    _ = ctx._
    triggers = await effective_triggers(ctx.uow, ctx.services.settings)
    lines = [head, ""] if head else []
    lines += [_("⚙️ Program settings"), "", _("Rules in force (tap a section below to change "
                                                  "them):"), *summary(ctx.t, ctx.settings), "",
              _("Automatic messages (tap one to switch it on or off; a change takes effect "
                "at the next pass):")]
    lines += [trigger_line(ctx, name, getattr(triggers, name)) for name in TRIGGERS]
    switches = [[Button(state_label(ctx, name, config := getattr(triggers, name)),
                        f"ps.{'off' if config.enabled else 'on'}:{name}")] for name in TRIGGERS]
    rows = [*section_buttons(ctx), *switches, [Button(_("✏️ Edit a message text"), "ps.x")]]
    if ctx.is_member:
        rows.append([Button(_("👤 My customer settings"), "settings")])
    return [Text("\n".join(lines), keyboard(*rows))]


@router.button("ps.v")
async def view(event: Event, ctx: Context) -> list[Reply]:
    return await program_view(ctx)


@router.button("ps.on", "ps.off")
async def switch(event: Event, ctx: Context) -> list[Reply]:
    payload = event.payload or ""
    name, enabled = payload.partition(":")[2], payload.startswith("ps.on")
    if name not in TRIGGERS:
        return stale(ctx)
    config: Trigger = getattr(await effective_triggers(ctx.uow, ctx.services.settings), name)
    if config.enabled == enabled:  # an old button, or a second tap
        return await program_view(ctx, ctx._("Nothing changed: «{title}» is already as it "
                                             "shows.").format(title=state_label(ctx, name, config)))
    await set_enabled(ctx.uow, name, enabled, actor=ctx.identity.id, at=ctx.now)
    await audit.record(ctx.uow, ctx.identity.id, "settings", at=ctx.now, trigger=name,
                       enabled=enabled)
    now = config.model_copy(update={"enabled": enabled})
    return await program_view(ctx, ctx._("✅ «{state}». It takes effect at the next pass.").format(
        state=state_label(ctx, name, now)))


def stale(ctx: Context) -> list[Reply]:
    return [Text(ctx._("This is no longer valid; nothing was changed. Send /settings to start "
                       "again."))]


# --- a trigger's own text -----------------------------------------------------------------

def cancel_button(ctx: Context, draft: str) -> Button:
    return Button(ctx._("✖ Cancel"), f"ps.no:{draft}")


def placeholders_line(ctx: Context, name: str) -> str:
    return ctx._("Placeholders you can use: {placeholders}. Write {{{{ and }}}} for a brace.").format(
        placeholders=", ".join("{" + p + "}" for p in allowed_placeholders(name)))


@router.button("ps.x")
async def edit_text(event: Event, ctx: Context) -> list[Reply]:
    """``ps.x`` → the trigger; ``ps.x:<trigger>`` → the language; ``ps.x:<trigger>:<locale>``
    → the text in force, and the bot waits for the new one."""
    _ = ctx._
    name, _sep, locale = (event.payload or "").partition(":")[2].partition(":")
    triggers = await effective_triggers(ctx.uow, ctx.services.settings)
    if not name:
        rows = [[Button(title(ctx, n, getattr(triggers, n)), f"ps.x:{n}")] for n in TRIGGERS]
        return [Text(_("Which message?"), keyboard(*rows, [Button(_("⬅️ Back"), "ps.v")]))]
    if name not in TRIGGERS:
        return stale(ctx)
    config: Trigger = getattr(triggers, name)
    i18n = ctx.services.i18n
    if not locale:
        languages = [Button(i18n.language_name(code), f"ps.x:{name}:{code}") for code in i18n.available]
        return [Text(_("«{title}»: which language?").format(title=title(ctx, name, config)),
                     keyboard(languages, [Button(_("⬅️ Back"), "ps.x")]))]
    if locale not in i18n.available:
        return stale(ctx)
    draft = secrets.token_hex(4)
    ctx.state.go("program.text", trigger=name, locale=locale, draft=draft)
    stored = await overrides(ctx.uow)
    own = config.own_text(locale)
    mine = name in stored and bool((stored[name].texts or {}).get(locale))
    lines = [_("«{title}», {language}.").format(title=title(ctx, name, config),
                                               language=i18n.language_name(locale))]
    if own is None:
        lines.append(_("Now customers get the built-in text:"))
        lines.append(built_in_text(ctx, name))
    else:
        lines += [_("Now customers get the shop's own text (set here):") if mine else
                  _("Now customers get the shop's own text (from the config file):"), own]
    lines += ["", _("Send the new text, up to {max} characters.").format(max=MAX_TEXT),
              placeholders_line(ctx, name)]
    rows = [[Button(_("↩️ Back to the built-in text"), f"ps.rm:{draft}")]] if mine else []
    return [Text("\n".join(lines), keyboard(*rows, [cancel_button(ctx, draft)]))]


def built_in_text(ctx: Context, name: str) -> str:
    """The built-in message as the customer's language has it (placeholders left in), or
    what a composed one says."""
    return ctx._(named(name).about)


@router.state("program.text")
async def take_text(event: Event, ctx: Context) -> list[Reply]:
    _, data = ctx._, ctx.state.data
    text = event.text.strip()
    cancel = keyboard([cancel_button(ctx, data["draft"])])
    if not text or len(text) > MAX_TEXT:
        return [Text(_("Please send a text of 1 to {max} characters.").format(max=MAX_TEXT), cancel)]
    try:
        check_text(data["trigger"], text)
    except BadText as error:
        why = (_("Sorry, I can't use this text: {placeholders} is not a placeholder of this "
                 "message. Nothing was saved.").format(
                     placeholders=", ".join("{" + name + "}" for name in error.unknown))
               if error.unknown else
               _("Sorry, I can't use this text: a brace has no pair or a placeholder is written "
                 "wrongly. Nothing was saved."))
        return [Text("\n".join([why, placeholders_line(ctx, data["trigger"]),
                                _("Please send the text again.")]), cancel)]
    ctx.state.go("program.confirm", **data, text=text)
    return [Text("\n".join([_("The new text:"), text, "", _("Save it?")]),
                 keyboard([Button(_("✅ Save"), f"ps.ok:{data['draft']}"),
                           cancel_button(ctx, data["draft"])]))]


def _draft(ctx: Context, event: Event, state: str) -> dict[str, Any] | None:
    draft = (event.payload or "").partition(":")[2]
    if ctx.state.name != state or ctx.state.data.get("draft") != draft:
        return None
    data = dict(ctx.state.data)
    ctx.state.clear()
    return data


@router.button("ps.ok")
async def save_text(event: Event, ctx: Context) -> list[Reply]:
    data = _draft(ctx, event, "program.confirm")
    if data is None:
        return stale(ctx)
    return await _store(ctx, data["trigger"], data["locale"], data["text"])


@router.button("ps.rm")
async def reset_text(event: Event, ctx: Context) -> list[Reply]:
    data = _draft(ctx, event, "program.text")
    if data is None:
        return stale(ctx)
    return await _store(ctx, data["trigger"], data["locale"], "")


async def _store(ctx: Context, name: str, locale: str, text: str) -> list[Reply]:
    _ = ctx._
    try:
        await set_text(ctx.uow, name, locale, text, actor=ctx.identity.id, at=ctx.now)
    except BadText:
        return stale(ctx)
    await audit.record(ctx.uow, ctx.identity.id, "settings", at=ctx.now, trigger=name,
                       locale=locale, text=text or None)
    triggers: TriggersSettings = await effective_triggers(ctx.uow, ctx.services.settings)
    config: Trigger = getattr(triggers, name)
    language = ctx.services.i18n.language_name(locale)
    if text:
        head = _("✅ Saved: «{title}», {language}. Customers get it from the next pass.")
    elif config.own_text(locale) is not None:
        head = _("✅ The text set here is removed: «{title}», {language} is the text from the "
                 "config file again.")
    else:
        head = _("✅ «{title}», {language}: back to the built-in text from the next pass.")
    return await program_view(ctx, head.format(title=title(ctx, name, config), language=language))


@router.button("ps.no")
async def cancel(event: Event, ctx: Context) -> list[Reply]:
    draft = (event.payload or "").partition(":")[2]
    if (ctx.state.name or "").startswith(FLOW) and ctx.state.data.get("draft") == draft:
        ctx.state.clear()
    return [Text(ctx._("Cancelled; nothing was changed."),
                 keyboard([Button(ctx._("⬅️ Back"), "ps.v")]))]
