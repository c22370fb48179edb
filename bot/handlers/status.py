"""Status: the current tier, what it gives, and how far the next one is; before the first
purchase, that the first one brings the first tier (and already counts at its rates)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.menu import menu_button
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.tiers import (
    current_tier,
    next_tier,
    points_share,
    reached_by_first_purchase,
    tier_label,
)

router = Router()


@router.command("status")
@router.button("status")
async def show_status(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    program = ctx.settings.program
    count, spent = ctx.member.purchase_count, ctx.member.total_spent
    tier, upcoming = current_tier(count, program, spent), next_tier(count, program, spent)
    lines = [_("Your tier: {tier}").format(tier=tier_label(tier, _))]
    if tier is not None:
        lines += [
            _("• {percent} of every purchase comes back in points").format(
                percent=ctx.t.percent(tier.cashback_percent)),
            _("• points can pay up to {percent} of a purchase").format(
                percent=ctx.t.percent(points_share(tier, program))),
        ]
    lines.append(_("Purchases so far: {n}").format(n=count))
    if upcoming is None:
        lines.append(_("This is the highest tier. Thank you for staying with us!"))
    elif tier is None and reached_by_first_purchase(upcoming[0], program):
        first = upcoming[0]
        lines.append(_("Your first purchase makes you «{tier}», and it already counts at its "
                       "rates: {cashback} back in points, and points can pay up to {share} of "
                       "it.").format(tier=tier_label(first, _),
                                     cashback=ctx.t.percent(first.cashback_percent),
                                     share=ctx.t.percent(points_share(first, program))))
    elif program.tier_basis == "spend":
        following, left = upcoming
        lines.append(_("{amount} more in purchases to {tier}: {percent} back in points.").format(
            amount=ctx.t.money(left * MINOR_PER_UNIT, ctx.settings.shop.currency),
            tier=tier_label(following, _), percent=ctx.t.percent(following.cashback_percent)))
    else:
        following, left = upcoming
        lines.append(ctx.t.ngettext(
            "{n} purchase to {tier}: {percent} back in points.",
            "{n} purchases to {tier}: {percent} back in points.", left,
        ).format(n=left, tier=tier_label(following, _), percent=ctx.t.percent(following.cashback_percent)))
    return [Text("\n".join(lines), keyboard([menu_button(ctx)]))]
