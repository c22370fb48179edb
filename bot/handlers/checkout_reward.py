"""The cashier gives a reward from the catalog (settings.program.rewards), paid 100 % with
points: a ledger spend with the reason "reward", made by the cashier (audited).

Buttons name the customer (``co.gifts:<customer_id>``, ``co.gift:<customer_id>:<code>``), so
a screen left over from another customer acts on nobody. States: ``checkout.reward``
{customer_id, code, key} while confirming; ``checkout.rewarded`` afterwards, so a second tap
on «Give» gives nothing more.
"""

from __future__ import annotations

import secrets

from bot.config import Reward
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import Translator
from bot.core.keys import signed_payload
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.delivery.notify import Notification
from bot.handlers.checkout import (
    affordable_rewards,
    blocked_card,
    called,
    cancel_button,
    no_checkout,
    not_serving,
)
from bot.handlers.desk import STAFF, staff_only
from bot.loyalty.ledger import InsufficientPoints

router = Router()
router.gate(staff_only(router, STAFF))


@router.button("co.gifts")
async def list_rewards(event: Event, ctx: Context) -> list[Reply]:
    """``co.gifts:<customer_id>``: the rewards this customer's balance buys."""
    customer_id = (event.payload or "").partition(":")[2]
    refusal = not_serving(ctx, customer_id)
    if refusal is not None:
        return refusal
    customer = await ctx.uow.customers.get(int(customer_id))
    if customer is None:
        ctx.state.clear()
        return [Text(ctx._("This customer is no longer in the program."))]
    balance = await ctx.ledger.balance(customer.id)
    rewards = affordable_rewards(ctx, balance)
    if not rewards:
        return [Text(ctx._("Not enough points for any reward: the balance is {points}.").format(
            points=ctx.t.points(balance)))]
    buttons = [[Button(ctx._("{reward} — {points}").format(
        reward=ctx._(r.name), points=ctx.t.points(r.points)), f"co.gift:{customer.id}:{r.code}")]
        for r in rewards]
    return [Text(ctx._("Which reward? Customer: {name}, balance: {points}.").format(
        name=called(customer), points=ctx.t.points(balance)),
        keyboard(*buttons, [cancel_button(ctx, customer.id)]))]


@router.button("co.gift")
async def choose_reward(event: Event, ctx: Context) -> list[Reply]:
    """``co.gift:<customer_id>:<code>``: confirm giving this reward to this customer."""
    _, customer_id, code = ((event.payload or "") + "::").split(":")[:3]
    refusal = not_serving(ctx, customer_id)
    if refusal is not None:
        return refusal
    reward = next((r for r in ctx.settings.program.rewards if r.code == code), None)
    if reward is None:
        return no_checkout(ctx)
    customer = await ctx.uow.customers.get(int(customer_id))
    if customer is None:
        ctx.state.clear()
        return [Text(ctx._("This customer is no longer in the program."))]
    key = secrets.token_hex(4)
    ctx.state.go("checkout.reward", customer_id=customer.id, code=code, key=key)
    return [Text(ctx._("Give «{reward}» for {points}? Customer: {name}.").format(
        reward=ctx._(reward.name), points=ctx.t.points(reward.points), name=called(customer)),
        keyboard([Button(ctx._("🎁 Give"), f"co.give:{key}")], [cancel_button(ctx, customer.id)]))]


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
    customer = await ctx.uow.customers.lock(customer_id)
    if customer is None or customer.blocked_at is not None:  # gone or blocked meanwhile
        ctx.state.clear()
        return [blocked_card(ctx) if customer else Text(
            ctx._("This customer is no longer in the program."))]
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
        reward=ctx._(reward.name), points=ctx.t.points(balance)), keyboard(
        [Button(ctx._("🧾 Purchase for this customer"), signed_payload(
            ctx.services.secret, ctx.identity.id, f"co.customer:{customer_id}"))],
        [Button(ctx._("🧾 Next customer"), "co.start")]))]


def reward_notice(reward: Reward, balance: int, customer_id: int) -> Notification:
    def render(t: Translator) -> list[Reply]:
        return [Text(t.gettext("Enjoy your reward: {reward}! Paid with points: {points}. "
                               "Balance: {balance}.").format(
            reward=t.gettext(reward.name), points=t.points(reward.points),
            balance=t.points(balance)))]

    return Notification(render, customer_id=customer_id)
