"""Trigger reports for admins: /triggers [days] (30 by default) shows, per trigger, what the
sends of that many past days did and how the recipients compare with the holdout."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bot.channels.registry import paid_channels
from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Reply, Text
from bot.core.routing import Router
from bot.core.text import whole_number
from bot.handlers.checkout import money
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty.people import channel_names
from bot.marketing.reports import WINDOW_DAYS, TriggerStats, trigger_report
from bot.marketing.triggers import trigger_name

router = Router()
router.gate(staff_only(router, ADMIN))

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _signed(ctx: Context, value: int | Decimal) -> str:
    return ("+" if value > 0 else "") + ctx.t.number(value)


def block(ctx: Context, stats: TriggerStats) -> str:
    _ = ctx._
    you, hold = stats.recipients, stats.holdout
    return "\n".join([
        f"«{trigger_name(stats.trigger, _)}»",
        _("Eligible {eligible}: sent {sent}, held out {held}; delivered {delivered}, "
          "failed or blocked {failed}").format(
            eligible=stats.eligible, sent=stats.sent, held=stats.held_out,
            delivered=stats.delivered, failed=stats.failed),
        *([_("Waiting for web visitors to come back: {away}").format(away=stats.away)]
          if stats.away else []),
        *([_("Paid messages ({channels}): {paid}").format(
            channels=channel_names(_, paid_channels()), paid=stats.paid)] if stats.paid else []),
        _("Came back: {came} of {size} ({conversion}), holdout {hold_came} of {hold_size} "
          "({hold_conversion}); uplift {uplift} pp").format(
            came=you.came_back, size=you.size, conversion=ctx.t.percent(you.conversion),
            hold_came=hold.came_back, hold_size=hold.size,
            hold_conversion=ctx.t.percent(hold.conversion), uplift=_signed(ctx, stats.uplift)),
        ctx.t.ngettext("Revenue {revenue} in {purchases} purchase, average check {check}",
                       "Revenue {revenue} in {purchases} purchases, average check {check}",
                       you.purchases).format(
            revenue=money(ctx, you.revenue), purchases=ctx.t.number(you.purchases),
            check=money(ctx, you.average_check)),
        _("Points given {given}, spent back {spent}").format(
            given=ctx.t.number(stats.points_given), spent=ctx.t.number(you.points_spent)),
    ])


@router.command("triggers")
@router.button("tr.open")
async def triggers_report(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    typed = event.argument
    days = whole_number(typed) if typed else DEFAULT_DAYS
    if days is None or not 1 <= days <= MAX_DAYS:
        return [Text(_("Send /triggers or /triggers <days>, from 1 to {max}.").format(max=MAX_DAYS))]
    end = ctx.services.clock.now()
    report = await trigger_report(ctx.uow, end - timedelta(days=days), end, WINDOW_DAYS)
    head = ctx.t.ngettext(
        "Triggers over the last {days} day (a purchase within {window} after the send counts "
        "as coming back):",
        "Triggers over the last {days} days (a purchase within {window} after the send counts "
        "as coming back):", days).format(days=days, window=ctx.t.days(WINDOW_DAYS))
    if not report:
        return [Text(head + "\n" + _("No trigger fired in this period."))]
    return [Text("\n\n".join([head, *(block(ctx, stats) for stats in report)]))]
