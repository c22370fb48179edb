"""Settings: language, which messages to receive, delete my data."""

from __future__ import annotations

from bot.context import Context
from bot.events import Event, EventKind
from bot.handlers.menu import menu_button
from bot.i18n import N_
from bot.replies import Button, Reply, Text, keyboard
from bot.routing import Router
from bot.keys import phone_fingerprint

router = Router()

# Message categories a customer can switch off; purchase confirmations always arrive.
TOPICS = {
    "promotions": ("notify_promotions", N_("Offers and news")),
    "reminders": ("notify_reminders", N_("Reminders and gifts")),
    "digest": ("notify_digest", N_("Balance digest")),
}


def settings_screen(ctx: Context, intro: str | None = None) -> Text:
    _ = ctx._
    customer = ctx.member
    i18n = ctx.services.i18n
    languages = [
        Button(("✓ " if code == ctx.t.locale else "") + i18n.language_name(code), f"settings:lang:{code}")
        for code in i18n.available
    ]
    topics = [
        [Button(("✅ " if getattr(customer, field) else "☐ ") + _(label), f"settings:topic:{topic}")]
        for topic, (field, label) in TOPICS.items()
    ]
    profile_label = (_("📝 My profile") if customer.profile_completed_at
                     else _("📝 Complete my profile"))
    text = _("Settings. Tap a message type to switch it on or off; purchase confirmations "
             "always arrive.")
    return Text(
        f"{intro}\n\n{text}" if intro else text,
        keyboard(languages, *topics, [Button(profile_label, "profile")],
                 [Button(_("🗑 Delete my data"), "settings:delete")],
                 [menu_button(ctx)]),
    )


@router.command("settings")
@router.button("settings")
async def settings(event: Event, ctx: Context) -> list[Reply]:
    payload = (event.payload or "") if event.kind is EventKind.BUTTON else ""
    action, _, argument = payload.removeprefix("settings").lstrip(":").partition(":")
    if action == "lang":
        return change_language(ctx, argument)
    if action == "topic":
        return toggle_topic(ctx, argument)
    if action == "delete":
        return await delete_data(ctx, confirmed=argument == "confirm")
    return [settings_screen(ctx)]


def change_language(ctx: Context, code: str) -> list[Reply]:
    ctx.choose_language(code)
    name = ctx.services.i18n.language_name(ctx.t.locale)
    return [settings_screen(ctx, ctx._("Language: {name}").format(name=name))]


def toggle_topic(ctx: Context, topic: str) -> list[Reply]:
    if topic in TOPICS:
        field = TOPICS[topic][0]
        setattr(ctx.member, field, not getattr(ctx.member, field))
    return [settings_screen(ctx)]


async def delete_data(ctx: Context, confirmed: bool) -> list[Reply]:
    _ = ctx._
    customer = ctx.member
    if not confirmed:
        balance = await ctx.ledger.balance(customer.id)
        return [Text(
            _("This deletes your card, your points (now {points}) and your history for good, "
              "in every messenger. Delete?").format(points=ctx.t.points(balance)),
            keyboard([Button(_("Yes, delete everything"), "settings:delete:confirm")],
                     [Button(_("Cancel"), "settings")]),
        )]
    fingerprint = (phone_fingerprint(ctx.services.secret, customer.phone)
                   if customer.phone and customer.phone_verified else None)
    await ctx.uow.customers.erase(customer.id, fingerprint, ctx.now)
    ctx.state.forget()
    return [Text(_("Your data is deleted. If you want to come back, send /start."))]
