"""Rewards: the catalog of gifts paid fully with points, against the customer's balance.
A cashier redeems a gift at the checkout; here the customer only sees what is within reach."""

from __future__ import annotations

from bot.config import Reward
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import N_
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.menu import menu_button

router = Router()

# The default catalog's names, for the translations; other names are shown as configured.
DEFAULT_REWARD_NAMES = (N_("A cup of coffee"), N_("A dessert"))


def reward_line(ctx: Context, reward: Reward, balance: int) -> str:
    name, price = ctx._(reward.name), ctx.t.points(reward.points)
    if balance >= reward.points:
        return ctx._("✅ {name} — {points}").format(name=name, points=price)
    missing = reward.points - balance
    need = ctx.t.ngettext("you need {n} more point", "you need {n} more points", missing).format(
        n=ctx.t.number(missing))
    return ctx._("▫️ {name} — {points} ({need})").format(name=name, points=price, need=need)


@router.command("rewards")
@router.button("rewards")
async def show_rewards(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    buttons = keyboard([Button(_("💳 Card"), "card"), menu_button(ctx)])
    rewards = sorted(ctx.settings.program.rewards, key=lambda reward: reward.points)
    if not rewards:
        return [Text(_("There are no rewards in the catalog yet."), buttons)]
    balance = await ctx.ledger.balance(ctx.member.id)
    lines = [_("Rewards paid fully with points. Your balance: {points}.").format(
        points=ctx.t.points(balance)), ""]
    lines += [reward_line(ctx, reward, balance) for reward in rewards]
    lines += ["", _("To get a reward, show your card at the checkout and ask the cashier for "
                    "it: the points are taken from your balance.")]
    return [Text("\n".join(lines), buttons)]
