"""The cashier at checkout, step two: the amount (a new draft with its receipt id), then
earn points or pay with points (checkout_points), then the summary to confirm."""

from __future__ import annotations

import secrets

from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.checkout import (
    cancel_button,
    checkout_of,
    customer_lines,
    money,
    no_checkout,
    reward_button,
)
from bot.handlers.desk import STAFF, outlet_of, staff_only
from bot.loyalty.checkout import cashback, spend_cap
from bot.loyalty.money import MAX_AMOUNT, MINOR_PER_UNIT, InvalidAmount, parse_typed_amount
from bot.storage.views import CustomerView

router = Router()
router.gate(staff_only(router, STAFF))

DRAFT_STATES = ("checkout.draft", "checkout.points")
RECEIPT_PREFIX = "C-"
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L to misread
RECEIPT_LENGTH = 6


def amount_problem(ctx: Context, error: InvalidAmount) -> str:
    _ = ctx._
    if error.reason == "zero":
        return _("The amount must be more than zero.")
    if error.reason == "too_large":
        return _("That is too much for one purchase (at most {amount}). Please check the "
                 "amount.").format(amount=money(ctx, MAX_AMOUNT))
    return _("I can't read this amount. Type it like 1500 or 1500,50 (a space may separate "
             "thousands: 1 500,50).")


async def new_receipt_id(ctx: Context, outlet_id: int) -> str:
    """A short id a cashier can read out and type: "C-7K3Q9X"."""
    while True:
        receipt = RECEIPT_PREFIX + "".join(
            secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
        if await ctx.uow.purchases.by_receipt(outlet_id, receipt) is None:
            return receipt


@router.state("checkout.amount", "checkout.draft", "checkout.reward", "checkout.rewarded")
async def accept_amount(event: Event, ctx: Context) -> list[Reply]:
    """A typed amount starts a new draft for the customer at the till (typed again on the
    draft, it replaces it; typed after a reward, it is the purchase that goes with it)."""
    try:
        amount = parse_typed_amount(event.text)
    except InvalidAmount as error:
        return [Text(amount_problem(ctx, error))]
    customer = await ctx.uow.customers.get(ctx.state.data["customer_id"])
    if customer is None:
        ctx.state.clear()
        return [Text(ctx._("This customer is no longer in the program."))]
    outlet = await outlet_of(ctx)
    ctx.state.go("checkout.draft", customer_id=customer.id, outlet_id=outlet.id, amount=amount,
                 receipt=await new_receipt_id(ctx, outlet.id), spend=0)
    return await draft_screen(ctx, customer)


async def cap_of(ctx: Context, customer: CustomerView) -> tuple[int, int]:
    """The customer's balance and the most points this draft's purchase may take."""
    amount = ctx.state.data["amount"]
    balance = await ctx.ledger.balance(customer.id)
    tier = checkout_of(ctx).tier_for_next_purchase(customer, amount)
    return balance, spend_cap(amount, balance, tier, ctx.settings.program)


async def draft_screen(ctx: Context, customer: CustomerView, note: str | None = None) -> list[Reply]:
    _ = ctx._
    data = ctx.state.data
    receipt = data["receipt"]
    balance, cap = await cap_of(ctx, customer)
    lines = [note, ""] if note else []
    lines += customer_lines(ctx, customer, balance)
    lines += ["", _("Purchase: {amount}").format(amount=money(ctx, data["amount"]))]
    lines.append(_("Points may pay up to {points} of it.").format(points=ctx.t.points(cap)) if cap
                 else _("Points can't pay for this purchase; the customer earns points."))
    pay = Button(_("💳 Pay with points (up to {points})").format(points=ctx.t.points(cap)),
                 f"co.spend:{receipt}")
    return [Text("\n".join(lines), keyboard(
        [Button(_("➕ Earn points"), f"co.earn:{receipt}")], [pay] if cap else [],
        reward_button(ctx, customer.id, balance), [cancel_button(ctx, customer.id, receipt)]))]


async def open_draft(event: Event, ctx: Context) -> CustomerView | None:
    """The customer of the draft this button belongs to, if it is still the open one."""
    receipt = (event.payload or "").split(":")[1:2]
    data = ctx.state.data
    if ctx.state.name not in DRAFT_STATES or [data.get("receipt")] != receipt:
        return None
    return await ctx.uow.customers.get(data["customer_id"])


@router.button("co.earn")
async def earn(event: Event, ctx: Context) -> list[Reply]:
    customer = await open_draft(event, ctx)
    return await summary(ctx, customer, 0) if customer else no_checkout(ctx)


async def summary(ctx: Context, customer: CustomerView, spend: int) -> list[Reply]:
    """What will be recorded, to confirm; a spend above the cap goes back to the choice."""
    _ = ctx._
    _balance, cap = await cap_of(ctx, customer)
    if spend > cap:
        return await draft_screen(ctx, customer, _("Points may pay at most {points} now.").format(
            points=ctx.t.points(cap)))
    ctx.state.go("checkout.draft", **{**ctx.state.data, "spend": spend})
    amount, receipt = ctx.state.data["amount"], ctx.state.data["receipt"]
    tier = checkout_of(ctx).tier_for_next_purchase(customer, amount)
    earned = cashback(amount - spend * MINOR_PER_UNIT, tier)
    lines = [_("Please check and confirm:"),
             _("Customer: {name}").format(name=customer.name or "—"),
             _("Purchase: {amount}").format(amount=money(ctx, amount))]
    if spend:
        lines += [_("Paid with points: {points}").format(points=ctx.t.points(spend)),
                  _("To pay with money: {amount}").format(
                      amount=money(ctx, amount - spend * MINOR_PER_UNIT))]
    lines.append(_("Points to earn: {points}").format(points=ctx.t.points(earned)))
    return [Text("\n".join(lines), keyboard(
        [Button(_("✅ Confirm"), f"co.ok:{receipt}:{spend}")], [cancel_button(ctx, customer.id, receipt)]))]
