"""Settings: language, which messages to receive, the messenger they come to (for someone
in more than one), delete my data."""

from __future__ import annotations

from bot.channels.registry import waiting_channels
from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.keys import phone_fingerprint
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.menu import menu_button
from bot.handlers.phone_check import verify_button
from bot.loyalty.people import channel_name

router = Router()

# Message categories a customer can switch off; purchase confirmations always arrive.
TOPICS = {
    "promotions": ("notify_promotions", N_("Offers and news")),
    "reminders": ("notify_reminders", N_("Reminders and gifts")),
    "digest": ("notify_digest", N_("Balance digest")),
}


async def messengers(ctx: Context) -> list[str]:
    """The messengers the customer can be written to (the web chat only while it is open)."""
    return await ctx.uow.identities.reachable_channels(ctx.member.id, excluding=waiting_channels())


def channel_row(ctx: Context, channels: list[str]) -> list[Button]:
    """«Messages come to: last used | Telegram | Viber …», the chosen one ticked."""
    chosen = ctx.member.preferred_channel if ctx.member.preferred_channel in channels else None
    options = [(None, ctx._("📨 The one I used last"))] + [
        (channel, channel_name(ctx._, channel))
        for channel in channels]
    return [Button(("✓ " if channel == chosen else "") + title, f"settings:via:{channel or ''}")
            for channel, title in options]


async def settings_screen(ctx: Context, intro: str | None = None) -> Text:
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
    channels = await messengers(ctx)
    if len(channels) > 1:
        text += "\n" + _("Messages come to the messenger you choose below.")
    via = [channel_row(ctx, channels)] if len(channels) > 1 else []
    return Text(
        f"{intro}\n\n{text}" if intro else text,
        keyboard(languages, *topics, *via, verify_button(ctx), [Button(profile_label, "profile")],
                 [Button(_("🗑 Delete my data"), "settings:delete")],
                 [menu_button(ctx)]),
    )


@router.command("settings")
@router.button("settings")
async def settings(event: Event, ctx: Context) -> list[Reply]:
    payload = (event.payload or "") if event.kind is EventKind.BUTTON else ""
    action, _, argument = payload.removeprefix("settings").lstrip(":").partition(":")
    if action == "lang":
        return await change_language(ctx, argument)
    if action == "topic":
        return await toggle_topic(ctx, argument)
    if action == "via":
        return await choose_messenger(ctx, argument)
    if action == "delete":
        return await delete_data(ctx, confirmed=argument == "confirm")
    return [await settings_screen(ctx)]


async def change_language(ctx: Context, code: str) -> list[Reply]:
    await ctx.choose_language(code)
    name = ctx.services.i18n.language_name(ctx.t.locale)
    return [await settings_screen(ctx, ctx._("Language: {name}").format(name=name))]


async def toggle_topic(ctx: Context, topic: str) -> list[Reply]:
    if topic in TOPICS:
        field = TOPICS[topic][0]
        await ctx.uow.customers.set_topic(ctx.member.id, field, not getattr(ctx.member, field))
        ctx.reread()
    return [await settings_screen(ctx)]


async def choose_messenger(ctx: Context, channel: str) -> list[Reply]:
    """A stale button naming a messenger the customer has left chooses "the last used"."""
    chosen = channel if channel in await messengers(ctx) else None
    await ctx.uow.customers.set_preferred_channel(ctx.member.id, chosen)
    ctx.reread()
    return [await settings_screen(ctx)]


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
