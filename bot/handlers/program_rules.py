"""The owner changes the program's rules in the chat (/settings → a section): bonuses and
their lifetimes, max discount, tiers, the rewards catalog, holidays, quiet hours, the
marketing cap and the holdout share. Each change: type the new value, see what it does (the
rules it alters, before and after), confirm; it is validated like the config file, stored
over it, audited, and in force from the next operation. «History» lists the changes.

States: ``program.value`` {draft, key} (a value is typed), ``program.add`` {draft, path,
item} (a new reward or holiday, one field after another), ``program.check`` {draft, path,
value} (the preview, waiting for «Save»). The draft id travels in the flow's buttons.
Buttons: ``pr.s:<section>``, ``pr.i:<item>``, ``pr.e:<key>``, ``pr.rm:<item>``,
``pr.add:<list>``, ``pr.ok:<draft>``, ``pr.no:<draft>``.
"""

from __future__ import annotations

import secrets
from typing import Any

from bot.config import Settings
from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.desk import ADMIN, staff_only
from bot.handlers.program import SECTIONS, program_view, title
from bot.loyalty.people import person
from bot.loyalty.program_rules import (
    LABELS,
    LISTS,
    Key,
    Refused,
    changed_rule,
    item_name,
    label,
    parse_key,
    read_value,
    sections,
    shown_date,
    shown_value,
    summary,
    with_item,
    without_item,
)
from bot.loyalty.program_settings import BadValue, set_value, value_at, with_value
from bot.loyalty.tiers import tier_label

router = Router()
router.gate(staff_only(router, ADMIN))

BONUSES = ("welcome_bonus", "welcome_bonus_days", "profile_bonus", "profile_bonus_days",
           "review_bonus", "review_bonus_days", "referral_bonus", "referral_bonus_days",
           "purchase_points_days", "max_discount_percent")
MESSAGES = ("triggers.quiet_start", "triggers.quiet_end", "triggers.daily_marketing_cap",
            "triggers.holdout_percent")
TIER_FIELDS = ("name", "min_purchases", "cashback_percent", "spend_share_percent")
REWARD_FIELDS = ("name", "points")
NEW_ITEM = {"rewards": ("program.rewards", ("name", "points")),
            "holidays": ("triggers.holidays.dates", ("date", "name"))}
HISTORY = 10


def back(ctx: Context, to: str = "ps.v") -> list[Button]:
    return [Button(ctx._("⬅️ Back"), to)]


def value_button(ctx: Context, settings: Settings, key: str) -> list[Button]:
    parsed = parse_key(key)
    assert parsed is not None, key
    now = _current(settings, parsed)
    return [Button(ctx._("{label}: {value}").format(
        label=label(ctx.t, settings, parsed), value=shown_value(ctx.t, now)), f"pr.e:{key}")]


def _current(settings: Settings, key: Key) -> Any:
    whole = value_at(settings, key.path)
    if key.item is None:
        return whole
    by = LISTS[key.path][0]
    return next((entry.get(key.field) for entry in whole if str(entry[by]) == key.item), None)


# --- the sections --------------------------------------------------------------------------

@router.button("pr.s")
async def section(event: Event, ctx: Context) -> list[Reply]:
    name = (event.payload or "").partition(":")[2]
    settings, _ = ctx.settings, ctx._
    if name == "history":
        return await history(ctx)
    if name == "bonuses":
        rows = [value_button(ctx, settings, key) for key in BONUSES]
    elif name == "messages":
        rows = [value_button(ctx, settings, key) for key in MESSAGES]
    elif name == "tiers":
        rows = [[Button(tier_label(t, _), f"pr.i:tiers.{t.code}")] for t in settings.program.tiers]
    elif name == "rewards":
        rows = [[Button(_(r.name), f"pr.i:rewards.{r.code}")] for r in settings.program.rewards]
        rows.append([Button(_("➕ Add a reward"), "pr.add:rewards")])
    elif name == "holidays":
        rows = [[Button(_("🗑 Remove {date} {name}").format(date=shown_date(h.date), name=_(h.name)),
                        f"pr.rm:triggers.holidays.dates.{h.date}")]
                for h in settings.triggers.holidays.dates]
        rows.append([Button(_("➕ Add a holiday"), "pr.add:holidays")])
    else:
        return stale(ctx)
    lines = [_(SECTIONS[name]), "", *section_lines(ctx, name), "",
             _("Tap a value to change it.") if name in ("bonuses", "messages") else
             _("Tap one to change it.")]
    return [Text("\n".join(lines), keyboard(*rows, back(ctx)))]


def section_lines(ctx: Context, name: str) -> list[str]:
    return sections(ctx.t, ctx.settings)[name] or [ctx._("None yet.")]


@router.button("pr.i")
async def item(event: Event, ctx: Context) -> list[Reply]:
    """A tier's or a reward's own screen: its values, and «Retire» for a reward."""
    kind, _sep, code = (event.payload or "").partition(":")[2].partition(".")
    settings = ctx.settings
    if kind == "tiers" and any(t.code == code for t in settings.program.tiers):
        rows = [value_button(ctx, settings, f"tiers.{code}.{field}") for field in TIER_FIELDS]
    elif kind == "rewards" and any(r.code == code for r in settings.program.rewards):
        rows = [value_button(ctx, settings, f"rewards.{code}.{field}") for field in REWARD_FIELDS]
        rows.append([Button(ctx._("🗑 Retire this reward"), f"pr.rm:rewards.{code}")])
    else:
        return stale(ctx)
    name = parse_key(f"{kind}.{code}.name")
    title = item_name(ctx.t, settings, name) if name else None
    return [Text(ctx._("«{name}»: tap a value to change it.").format(name=title),
                 keyboard(*rows, back(ctx, f"pr.s:{kind}")))]


# --- typing a value ------------------------------------------------------------------------

@router.button("pr.e")
async def ask_value(event: Event, ctx: Context) -> list[Reply]:
    key = parse_key((event.payload or "").partition(":")[2])
    if key is None or _current(ctx.settings, key) is None:
        return stale(ctx)
    draft = secrets.token_hex(4)
    ctx.state.go("program.value", draft=draft, key=key.text)
    return [Text(ctx._("{label}. Now: {value}. Send the new value.").format(
        label=label(ctx.t, ctx.settings, key), value=shown_value(ctx.t, _current(ctx.settings, key))),
        keyboard([cancel_button(ctx, draft)]))]


@router.state("program.value")
async def take_value(event: Event, ctx: Context) -> list[Reply]:
    data = ctx.state.data
    key = parse_key(data.get("key", ""))
    if key is None:
        ctx.state.clear()
        return stale(ctx)
    try:
        value = changed_rule(ctx.settings, key, read_value(key, event.text))
    except Refused as refused:
        return refusal(ctx, refused, data["draft"])
    return preview(ctx, data["draft"], key.path, value)


@router.button("pr.add")
async def start_item(event: Event, ctx: Context) -> list[Reply]:
    kind = (event.payload or "").partition(":")[2]
    if kind not in NEW_ITEM:
        return stale(ctx)
    draft = secrets.token_hex(4)
    ctx.state.go("program.add", draft=draft, kind=kind, item={})
    return ask_field(ctx, draft, kind, {})


def ask_field(ctx: Context, draft: str, kind: str, item: dict[str, Any]) -> list[Reply]:
    _path, fields = NEW_ITEM[kind]
    field = fields[len(item)]
    prompt = ctx._("New reward, step {step} of {steps}: {what}?") if kind == "rewards" else \
        ctx._("New holiday, step {step} of {steps}: {what}?")
    return [Text(prompt.format(step=len(item) + 1, steps=len(fields), what=ctx._(LABELS[field])),
                 keyboard([cancel_button(ctx, draft)]))]


@router.state("program.add")
async def take_field(event: Event, ctx: Context) -> list[Reply]:
    data = dict(ctx.state.data)
    path, fields = NEW_ITEM[data["kind"]]
    field = fields[len(data["item"])]
    key = Key("", path, "new", field)
    try:
        item = {**data["item"], field: read_value(key, event.text)}
    except Refused as refused:
        return refusal(ctx, refused, data["draft"])
    if len(item) < len(fields):
        ctx.state.go("program.add", **{**data, "item": item})
        return ask_field(ctx, data["draft"], data["kind"], item)
    if data["kind"] == "rewards":
        item["code"] = "r" + secrets.token_hex(3)
    try:
        value = with_item(ctx.settings, path, item)
    except Refused as refused:
        ctx.state.clear()
        return [Text(ctx._(refused.message).format(**refused.values))]
    return preview(ctx, data["draft"], path, value)


@router.button("pr.rm")
async def remove_item(event: Event, ctx: Context) -> list[Reply]:
    key = parse_key((event.payload or "").partition(":")[2] + ".name")
    if key is None or key.item is None:
        return stale(ctx)
    try:
        value = without_item(ctx.settings, key)
    except Refused as refused:
        return [Text(ctx._(refused.message).format(**refused.values))]
    return preview(ctx, secrets.token_hex(4), key.path, value)


def refusal(ctx: Context, refused: Refused, draft: str) -> list[Reply]:
    return [Text(ctx._(refused.message).format(**refused.values) + "\n" + ctx._(
        "Nothing was changed; send the value again or cancel."), keyboard([cancel_button(ctx, draft)]))]


# --- preview, save, cancel -----------------------------------------------------------------

def preview(ctx: Context, draft: str, path: str, value: Any) -> list[Reply]:
    """What the change does: the rules it alters, now and after; «Save» stores it."""
    _ = ctx._
    try:
        after = with_value(ctx.settings, path, value)
    except BadValue:
        return [Text(_("This change breaks the program's rules (for example two tiers would "
                       "start at the same purchase). Nothing was changed; please try another "
                       "value."), keyboard([cancel_button(ctx, draft)]))]
    before_lines, after_lines = summary(ctx.t, ctx.settings), summary(ctx.t, after)
    gone = [line for line in before_lines if line not in after_lines]
    new = [line for line in after_lines if line not in before_lines]
    if not gone and not new:
        ctx.state.clear()
        return [Text(_("This is already the rule in force; nothing was changed."),
                     keyboard(back(ctx)))]
    ctx.state.go("program.check", draft=draft, path=path, value=value)
    lines = [_("Now:"), *(gone or ["—"]), "", _("After the change:"), *(new or ["—"]), "",
             _("It applies from the next purchase, message or pass. Save?")]
    return [Text("\n".join(lines), keyboard(
        [Button(_("✅ Save"), f"pr.ok:{draft}"), cancel_button(ctx, draft)]))]


@router.button("pr.ok")
async def save(event: Event, ctx: Context) -> list[Reply]:
    draft = (event.payload or "").partition(":")[2]
    data = ctx.state.data
    if ctx.state.name != "program.check" or data.get("draft") != draft:
        return stale(ctx)
    ctx.state.clear()
    try:
        ctx.settings = await set_value(ctx.uow, ctx.services.settings, data["path"], data["value"],
                                       actor=ctx.identity.id, at=ctx.now)
    except BadValue:  # someone else changed a rule it depends on meanwhile
        return stale(ctx)
    return await program_view(ctx, ctx._("✅ Saved. It applies from the next operation."))


def cancel_button(ctx: Context, draft: str) -> Button:
    return Button(ctx._("✖ Cancel"), f"pr.no:{draft}")


@router.button("pr.no")
async def cancel(event: Event, ctx: Context) -> list[Reply]:
    draft = (event.payload or "").partition(":")[2]
    if (ctx.state.name or "").startswith("program.") and ctx.state.data.get("draft") == draft:
        ctx.state.clear()
    return [Text(ctx._("Cancelled; nothing was changed."), keyboard(back(ctx)))]


def stale(ctx: Context) -> list[Reply]:
    return [Text(ctx._("This is no longer valid; nothing was changed. Send /settings to start "
                       "again."))]


# --- history -------------------------------------------------------------------------------

async def history(ctx: Context) -> list[Reply]:
    """The last changes of the rules and the triggers: when, who, what."""
    _ = ctx._
    rows = await ctx.uow.audit_log.latest("settings", HISTORY)
    lines = [_("🕘 The last changes:")] if rows else [_("No changes yet: the rules are the "
                                                         "config file's.")]
    for entry, who in rows:
        by = person(_, who.channel, who.external_id, None) if who else "—"
        lines.append(_("• {date}, {who}: {what}").format(
            date=ctx.t.date(ctx.local(entry.created_at).date()), who=by,
            what=change_text(ctx, entry.details or {})))
    return [Text("\n".join(lines), keyboard(back(ctx)))]


def change_text(ctx: Context, details: dict[str, Any]) -> str:
    """What a settings change of the audit log changed (``details`` as recorded)."""
    _ = ctx._
    if "trigger" in details:
        name = str(details["trigger"])
        config = getattr(ctx.settings.triggers, name, None)
        shown = title(ctx, name, config) if config is not None else name
        return _("automatic message «{trigger}» changed").format(trigger=shown)
    path = str(details.get("path", ""))
    before, after = details.get("before"), details.get("after")
    key = parse_key(path.removeprefix("program."))
    if key is not None and not isinstance(after, list):
        return _("{label}: {before} → {after}").format(
            label=label(ctx.t, ctx.settings, key), before=shown_value(ctx.t, before),
            after=shown_value(ctx.t, after))
    lists = {"program.tiers": _("the tiers changed"), "program.rewards": _("the rewards changed"),
             "triggers.holidays.dates": _("the holidays changed")}
    return lists.get(path, path)
