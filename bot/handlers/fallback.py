"""What the bot says to input it does not expect."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.replies import Reply
from bot.core.routing import Router
from bot.handlers.menu import main_menu

router = Router()


def unsupported_text(ctx: Context) -> str:
    return ctx._("I understand text and buttons; stickers, voice messages, photos and "
                 "locations I can't read.")


@router.gate
async def unsupported(event: Event, ctx: Context) -> list[Reply] | None:
    if event.kind is not EventKind.UNSUPPORTED:
        return None
    return [main_menu(ctx, unsupported_text(ctx))]


@router.fallback
async def not_understood(event: Event, ctx: Context) -> list[Reply]:
    if event.kind is EventKind.BUTTON:  # a button from an old message
        return [main_menu(ctx, ctx._("That button is no longer active. Here is the menu:"))]
    return [main_menu(ctx, ctx._("I didn't catch that. Choose what you need in the menu, "
                                 "or send /menu at any time."))]
