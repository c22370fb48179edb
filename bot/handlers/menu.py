"""The main menu: always one tap away."""

from __future__ import annotations

from bot.context import Context
from bot.events import Event
from bot.i18n import N_
from bot.replies import Button, Reply, Text, keyboard
from bot.routing import Router

router = Router()

# Commands a messenger may list in its own menu (Telegram's "Menu" button).
MENU_COMMANDS = (
    ("start", N_("Main menu")),
    ("card", N_("My card")),
    ("balance", N_("Balance and history")),
    ("status", N_("My tier")),
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
            [Button(_("⭐ Status"), "status"), Button(_("📋 Rules"), "rules")],
            [Button(_("⚙️ Settings"), "settings")],
        ),
    )


@router.command("start")
async def start(event: Event, ctx: Context) -> list[Reply]:
    """/start of a customer who has already joined (the sign-up gate takes the others)."""
    return [main_menu(ctx, ctx._("Welcome back, {name}!").format(name=ctx.member.name or ""))]


@router.command("menu", "help")
@router.button("menu")
async def show_menu(event: Event, ctx: Context) -> list[Reply]:
    return [main_menu(ctx)]
