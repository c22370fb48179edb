"""Balance & history: available and pending points, what burns next, the last operations."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.menu import menu_button
from bot.storage.views import OperationView

router = Router()

HISTORY_LENGTH = 10

REASONS = {
    "welcome": N_("welcome bonus"),
    "purchase": N_("purchase"),
    "refund": N_("refund"),
    "gift": N_("gift"),
    "profile": N_("profile bonus"),
    "review": N_("review bonus"),
    "referral": N_("referral bonus"),
    "reward": N_("reward"),
    "adjustment": N_("adjustment"),
    "manual": N_("adjustment"),  # points added or taken by an admin
    "expiry": N_("expired"),
    "import": N_("opening balance"),
}
OTHER = N_("other")


def operation_line(ctx: Context, operation: OperationView) -> str:
    sign = "+" if operation.amount > 0 else "−"
    return ctx._("• {date} {sign}{points} {reason}").format(
        date=ctx.t.date(ctx.local(operation.created_at).date()),
        sign=sign,
        points=ctx.t.number(abs(operation.amount)),
        reason=ctx._(REASONS.get(operation.reason, OTHER)),
    )


@router.command("balance")
@router.button("balance")
async def show_balance(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    summary = await ctx.ledger.summary(ctx.member.id, HISTORY_LENGTH, ctx.services.timezone)
    lines = [_("Available: {points}").format(points=ctx.t.points(summary.available))]
    if summary.pending:
        lines.append(_("Pending: {points} (they become spendable soon)").format(
            points=ctx.t.points(summary.pending)))
    if summary.next_expiry is not None:
        lines.append(_("Next to burn: {points} on {date}").format(
            points=ctx.t.points(summary.next_expiry.points),
            date=ctx.t.date(summary.next_expiry.on)))
    lines.append("")
    if summary.recent:
        lines.append(_("Last operations:"))
        lines.extend(operation_line(ctx, operation) for operation in summary.recent)
    else:
        lines.append(_("No operations yet."))
    return [Text("\n".join(lines), keyboard([Button(_("💳 Card"), "card"), menu_button(ctx)]))]
