"""The cashier gives a reward from the catalog (settings.program.rewards), paid 100 % with
points: a ledger spend with the reason "reward", made by the cashier (audited).

States: ``checkout.reward`` {customer_id, code, key} while confirming; ``checkout.rewarded``
afterwards, so a second tap on «Give» gives nothing more.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bot.config import Reward
from bot.context import Context
from bot.events import Event
from bot.handlers.checkout import affordable_rewards, cancel_button, no_checkout
from bot.handlers.desk import STAFF, staff_only
from bot.i18n import Translator
from bot.ledger import InsufficientPoints
from bot.notify import Notification
from bot.replies import Button, Reply, Text, keyboard
from bot.routing import Router

router = Router()
router.gate(staff_only(router, STAFF))


def reward_name(reward: Reward, translate: Callable[[str], str]) -> str:
    return translate(reward.name)


def customer_in_checkout(ctx: Context) -> int | None:
    if (ctx.state.name or "").startswith("checkout."):
        return ctx.state.data.get("customer_id")
    return None


@router.button("co.gifts")
async def list_rewards(event: Event, ctx: Context) -> list[Reply]:
    customer_id = customer_in_checkout(ctx)
    if customer_id is None:
        return no_checkout(ctx)
    balance = await ctx.ledger.balance(customer_id)
    rewards = affordable_rewards(ctx, balance)
    if not rewards:
        return [Text(ctx._("Not enough points for any reward: the balance is {points}.").format(
            points=ctx.t.points(balance)))]
    buttons = [[Button(ctx._("{reward} — {points}").format(
        reward=reward_name(r, ctx._), points=ctx.t.points(r.points)), f"co.gift:{r.code}")]
        for r in rewards]
    return [Text(ctx._("Which reward? The balance is {points}.").format(
        points=ctx.t.points(balance)), keyboard(*buttons, [cancel_button(ctx)]))]


@router.button("co.gift")
async def choose_reward(event: Event, ctx: Context) -> list[Reply]:
    customer_id = customer_in_checkout(ctx)
    code = (event.payload or "").partition(":")[2]
    reward = next((r for r in ctx.settings.program.rewards if r.code == code), None)
    if customer_id is None or reward is None:
        return no_checkout(ctx)
    key = secrets.token_hex(4)
    ctx.state.go("checkout.reward", customer_id=customer_id, code=code, key=key)
    return [Text(ctx._("Give «{reward}» for {points}?").format(
        reward=reward_name(reward, ctx._), points=ctx.t.points(reward.points)),
        keyboard([Button(ctx._("🎁 Give"), f"co.give:{key}")], [cancel_button(ctx)]))]


@router.button("co.give")
async def give_reward(event: Event, ctx: Context) -> list[Reply]:
    key, data = (event.payload or "").partition(":")[2], ctx.state.data
    if data.get("key") != key or ctx.state.name not in ("checkout.reward", "checkout.rewarded"):
        return no_checkout(ctx)
    if ctx.state.name == "checkout.rewarded":
        return [Text(ctx._("This reward has already been given."))]
    reward = next((r for r in ctx.settings.program.rewards if r.code == data["code"]), None)
    if reward is None:
        return no_checkout(ctx)
    customer_id = data["customer_id"]
    try:
        await ctx.ledger.spend(customer_id, reward.points, "reward", reference=reward.code,
                               note=reward.name, actor=ctx.identity.id)
    except InsufficientPoints as error:
        return [Text(ctx._("Not enough points for this reward: the balance is {points}.").format(
            points=ctx.t.points(error.available)))]
    ctx.state.go("checkout.rewarded", **data)
    balance = await ctx.ledger.balance(customer_id)
    ctx.notify(reward_notice(reward, balance, customer_id))
    return [Text(ctx._("🎁 Given: {reward}. Customer's balance: {points}.").format(
        reward=reward_name(reward, ctx._), points=ctx.t.points(balance)), keyboard(
        [Button(ctx._("🧾 Purchase for this customer"), f"co.customer:{customer_id}")],
        [Button(ctx._("🧾 Next customer"), "co.start")]))]


def reward_notice(reward: Reward, balance: int, customer_id: int) -> Notification:
    def render(t: Translator) -> list[Reply]:
        return [Text(t.gettext("Enjoy your reward: {reward}! Paid with points: {points}. "
                               "Balance: {balance}.").format(
            reward=reward_name(reward, t.gettext), points=t.points(reward.points),
            balance=t.points(balance)))]

    return Notification(render, customer_id=customer_id)
