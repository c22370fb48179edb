"""The main menu: always one tap away."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router

router = Router()

# Commands a messenger may list in its own menu (Telegram's "Menu" button).
MENU_COMMANDS = (
    ("start", N_("Main menu")),
    ("card", N_("My card")),
    ("balance", N_("Balance and history")),
    ("status", N_("My tier")),
    ("rewards", N_("Rewards")),
    ("friends", N_("Invite a friend")),
    ("feedback", N_("Rate a visit")),
    ("settings", N_("Settings")),
    ("rules", N_("Program rules")),
)


def menu_button(ctx: Context) -> Button:
    return Button(ctx._("⬅️ Menu"), "menu")


def main_menu(ctx: Context, text: str | None = None) -> Text:
    _ = ctx._
    return Text(
        text or _("What would you like to see?"),
        keyboard(
            [Button(_("💳 Card"), "card"), Button(_("💰 Balance & history"), "balance")],
            [Button(_("⭐ Status"), "status"), Button(_("🎁 Rewards"), "rewards")],
            [Button(_("🤝 Invite a friend"), "friends"), Button(_("💬 Feedback"), "feedback")],
            profile_row(ctx),
            [Button(_("⚙️ Settings"), "settings"), Button(_("📋 Rules"), "rules")],
        ),
    )


def profile_row(ctx: Context) -> list[Button]:
    """While the profile bonus is still to be had, the menu offers it."""
    bonus, customer = ctx.settings.program.profile_bonus, ctx.customer
    if bonus <= 0 or customer is None or customer.profile_completed_at is not None:
        return []
    return [Button(ctx._("📝 Complete my profile: +{points}").format(points=ctx.t.points(bonus)),
                   "profile")]


@router.command("start")
async def start(event: Event, ctx: Context) -> list[Reply]:
    """/start of a customer who has already joined (the sign-up gate takes the others)."""
    return [main_menu(ctx, ctx._("Welcome back, {name}!").format(name=ctx.member.name or ""))]


@router.command("menu", "help")
@router.button("menu")
async def show_menu(event: Event, ctx: Context) -> list[Reply]:
    return [main_menu(ctx)]
