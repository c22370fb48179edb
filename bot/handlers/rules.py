"""The program's rules in one screen, written from the configuration in force."""

from __future__ import annotations

from bot.context import Context
from bot.events import Event
from bot.handlers.menu import menu_button
from bot.replies import Reply, Text, keyboard
from bot.routing import Router
from bot.tiers import tier_label

router = Router()


def rules_text(ctx: Context) -> str:
    _ = ctx._
    program = ctx.settings.program
    tiers = sorted(program.tiers, key=lambda tier: tier.min_purchases)
    earn = ", ".join(
        _("{tier} {percent}").format(tier=tier_label(tier, _), percent=ctx.t.percent(tier.cashback_percent))
        for tier in tiers
    )
    spend = ", ".join(
        _("{tier} {percent}").format(tier=tier_label(tier, _), percent=ctx.t.percent(tier.spend_share_percent))
        for tier in tiers
    )
    lines = [
        _("How the program works:"),
        _("• Joining is free and gives {points} at once.").format(
            points=ctx.t.points(program.welcome_bonus)),
        _("• Every purchase brings points back: {earn} of the amount paid.").format(earn=earn),
        _("• 1 point = 1 {currency} of discount. Points can pay up to {max} of a purchase; "
          "the share of it open to each tier: {spend}.").format(
            currency=ctx.t.currency_symbol(ctx.settings.shop.currency),
            max=ctx.t.percent(program.max_discount_percent), spend=spend),
        ctx.t.ngettext(
            "• Purchase points last {days} day; the points that burn first are spent first.",
            "• Purchase points last {days} days; the points that burn first are spent first.",
            program.purchase_points_days).format(days=program.purchase_points_days),
        _("• Points can't be exchanged for cash."),
    ]
    return "\n".join(lines)


@router.command("rules")
@router.button("rules")
async def show_rules(event: Event, ctx: Context) -> list[Reply]:
    return [Text(rules_text(ctx), keyboard([menu_button(ctx)]))]
