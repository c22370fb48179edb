"""The program's rules in one screen, written from the configuration in force: what joining
gives and how long it lasts, the tier a newcomer has and what makes the next ones, what
comes back from a purchase, and how much of a purchase each tier may pay with points (as a
share of the purchase, so nobody has to multiply two percentages)."""

from __future__ import annotations

from bot.config import Tier
from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.menu import menu_button
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.tiers import by_threshold, points_share, reached_by_first_purchase, threshold, tier_label

router = Router()


def welcome_line(ctx: Context) -> str:
    program = ctx.settings.program
    if program.welcome_bonus <= 0:
        return ctx._("• Joining is free.")
    return ctx.t.ngettext(
        "• Joining is free and gives {points} at once; they last {days} day.",
        "• Joining is free and gives {points} at once; they last {days} days.",
        program.welcome_bonus_days).format(points=ctx.t.points(program.welcome_bonus),
                                           days=program.welcome_bonus_days)


def reaching(ctx: Context, tier: Tier) -> str:
    """What reaches ``tier``: "5" (purchases) or "10 000,00 ₽" (spent in total)."""
    program = ctx.settings.program
    if program.tier_basis == "spend":
        return ctx.t.money(threshold(tier, program) * MINOR_PER_UNIT, ctx.settings.shop.currency)
    return ctx.t.number(threshold(tier, program))


def start_line(ctx: Context, first: Tier) -> str:
    """The tier before the first purchase, and what brings the first real one."""
    _, program = ctx._, ctx.settings.program
    member, tier = tier_label(None, _), tier_label(first, _)
    if reached_by_first_purchase(first, program):
        return _("• Until your first purchase your tier is «{member}»; the first purchase makes "
                 "you «{tier}» and already counts at its rates.").format(member=member, tier=tier)
    if program.tier_basis == "spend":
        return _("• You start as «{member}»; purchases of {amount} in total make you "
                 "«{tier}».").format(member=member, amount=reaching(ctx, first), tier=tier)
    n = threshold(first, program)
    return ctx.t.ngettext("• You start as «{member}»; {n} purchase makes you «{tier}».",
                          "• You start as «{member}»; {n} purchases make you «{tier}».",
                          n).format(member=member, n=n, tier=tier)


def ladder_line(ctx: Context, tiers: list[Tier]) -> str:
    _ = ctx._
    steps = ", ".join(_("{tier} from {threshold}").format(
        tier=tier_label(tier, _), threshold=reaching(ctx, tier)) for tier in tiers)
    if ctx.settings.program.tier_basis == "spend":
        return _("• Tiers go by the total of your purchases: {steps}.").format(steps=steps)
    return _("• Tiers go by the number of your purchases: {steps}.").format(steps=steps)


def paying_line(ctx: Context, tiers: list[Tier]) -> str:
    _, program = ctx._, ctx.settings.program
    currency = ctx.t.currency_symbol(ctx.settings.shop.currency)
    shares = [(tier, points_share(tier, program)) for tier in tiers]
    if not any(share for _tier, share in shares):
        return _("• 1 point = 1 {currency} when you take a reward; purchases themselves are "
                 "paid in money.").format(currency=currency)
    return _("• 1 point = 1 {currency} of discount. Points can pay for a part of a purchase: "
             "{shares}.").format(currency=currency, shares=", ".join(
        _("{tier} up to {percent}").format(tier=tier_label(tier, _), percent=ctx.t.percent(share))
        for tier, share in shares))


def rules_text(ctx: Context) -> str:
    _ = ctx._
    program = ctx.settings.program
    tiers = by_threshold(program)
    earn = ", ".join(
        _("{tier} {percent}").format(tier=tier_label(tier, _), percent=ctx.t.percent(tier.cashback_percent))
        for tier in tiers
    )
    lines = [
        _("How the program works:"),
        welcome_line(ctx),
        *([start_line(ctx, tiers[0]), ladder_line(ctx, tiers)] if tiers else []),
        _("• Every purchase brings points back: {earn} of the amount paid.").format(earn=earn),
        paying_line(ctx, tiers),
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
