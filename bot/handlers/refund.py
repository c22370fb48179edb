"""Refunds by staff: ``/refund <receipt>`` (all that is left of the purchase) or
``/refund <receipt> <amount>`` (a part), or the «Refund» button under a recorded purchase;
then a confirmation. The confirmation carries a refund key, so a second tap records nothing,
and the amount it shows is the one refunded: if the purchase was refunded elsewhere meanwhile
and less is left, nothing is refunded.

State: ``refund.confirm`` {outlet_id, receipt, amount, key}, then ``refund.done``.
"""

from __future__ import annotations

import secrets
from typing import Any

from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.checkout import checkout_of, money
from bot.handlers.checkout_draft import RECEIPT_PREFIX, amount_problem
from bot.handlers.desk import STAFF, outlet_of, staff_only
from bot.handlers.notices import refund_notice
from bot.loyalty.checkout import RefundConflict, RefundTooLarge, UnknownReceipt
from bot.loyalty.money import InvalidAmount, parse_typed_amount
from bot.storage.views import PurchaseView

router = Router()
router.gate(staff_only(router, STAFF))


async def find_purchase(ctx: Context, typed: str) -> PurchaseView | None:
    """A purchase of the staff member's outlet by its receipt as typed: "C-7K3Q9X", "c-7k3q9x"
    and "7K3Q9X" find the same one; a till's receipt is found as it is."""
    outlet = await outlet_of(ctx)
    for receipt in dict.fromkeys([typed, typed.upper(), RECEIPT_PREFIX + typed.upper()]):
        purchase = await ctx.uow.purchases.by_receipt(outlet.id, receipt)
        if purchase is not None:
            return purchase
    return None


@router.command("refund")
async def refund_command(event: Event, ctx: Context) -> list[Reply]:
    words = (event.payload or "").split(maxsplit=1)
    if not words:
        return [Text(ctx._("Send /refund <receipt> to refund a whole purchase, or "
                           "/refund <receipt> <amount> to refund a part of it."))]
    amount = None
    if len(words) == 2:
        try:
            amount = parse_typed_amount(words[1])
        except InvalidAmount as error:
            return [Text(amount_problem(ctx, error))]
    return await ask(ctx, words[0], amount)


@router.button("rf.ask")
async def refund_button(event: Event, ctx: Context) -> list[Reply]:
    return await ask(ctx, (event.payload or "").partition(":")[2], None)


async def ask(ctx: Context, typed: str, amount: int | None) -> list[Reply]:
    _ = ctx._
    purchase = await find_purchase(ctx, typed)
    if purchase is None:
        return [Text(_("No purchase with the receipt {receipt} at this outlet. Please check the "
                       "receipt.").format(receipt=typed))]
    left = purchase.amount - purchase.refunded_amount
    if left <= 0:
        return [Text(_("The purchase {receipt} is already refunded in full.").format(
            receipt=purchase.receipt_id))]
    if amount is not None and amount > left:
        return [Text(_("At most {amount} of the purchase {receipt} can still be refunded.").format(
            amount=money(ctx, left), receipt=purchase.receipt_id))]
    amount = left if amount is None else amount  # the amount shown is the one refunded
    key = secrets.token_hex(4)
    ctx.state.go("refund.confirm", outlet_id=purchase.outlet_id, receipt=purchase.receipt_id,
                 amount=amount, key=key)
    text = _("Refund {amount} of the purchase {receipt} ({total})? The points are settled "
             "in proportion: those earned for it are withdrawn, those paid with come back.").format(
        amount=money(ctx, amount), receipt=purchase.receipt_id, total=money(ctx, purchase.amount))
    return [Text(text, keyboard([Button(_("↩️ Refund"), f"rf.ok:{key}")],
                                [Button(_("✖ Cancel"), f"rf.no:{key}")]))]


def pending(ctx: Context, event: Event) -> dict[str, Any] | None:
    key = (event.payload or "").partition(":")[2]
    if ctx.state.name in ("refund.confirm", "refund.done") and ctx.state.data.get("key") == key:
        return ctx.state.data
    return None


@router.button("rf.ok")
async def confirm_refund(event: Event, ctx: Context) -> list[Reply]:
    _, data = ctx._, pending(ctx, event)
    if data is None:
        return [Text(_("This refund is no longer open. Send /refund <receipt> again."))]
    try:
        result = await checkout_of(ctx).refund(
            outlet_id=data["outlet_id"], receipt_id=data["receipt"], amount=data["amount"],
            refund_key=data["key"], actor=ctx.identity.id)
    except RefundTooLarge as error:  # refunded elsewhere since it was shown
        ctx.state.clear()
        if error.refundable <= 0:
            return [Text(_("The purchase {receipt} is already refunded in full.").format(
                receipt=data["receipt"]))]
        return [Text(_("The purchase {receipt} has changed since: only {amount} of it can still "
                       "be refunded. Nothing was refunded; send /refund {receipt} again.").format(
            amount=money(ctx, error.refundable), receipt=data["receipt"]))]
    except RefundConflict:  # this refund's key was recorded, with another amount
        ctx.state.clear()
        return [Text(_("This refund is already recorded."))]
    except UnknownReceipt:
        ctx.state.clear()
        return [Text(_("No purchase with the receipt {receipt} at this outlet. Please check the "
                       "receipt.").format(receipt=data["receipt"]))]
    if result.replayed:
        return [Text(_("This refund is already recorded."))]
    ctx.state.go("refund.done", **data)
    if result.customer_id is not None:
        ctx.notify(refund_notice(result, ctx.settings))
    lines = [_("↩️ Refunded {amount} of the purchase {receipt}.").format(
        amount=money(ctx, result.amount), receipt=result.receipt_id)]
    if result.points_returned:
        lines.append(_("Points returned: +{points}").format(points=ctx.t.points(result.points_returned)))
    if result.points_reversed:
        lines.append(_("Points withdrawn: −{points}").format(points=ctx.t.points(result.points_reversed)))
    if result.customer_id is not None:
        lines.append(_("Customer's balance: {points}").format(points=ctx.t.points(result.balance)))
    return [Text("\n".join(lines))]


@router.button("rf.no")
async def cancel_refund(event: Event, ctx: Context) -> list[Reply]:
    if ctx.state.name == "refund.done" and pending(ctx, event) is not None:
        return [Text(ctx._("This refund is already recorded."))]
    if pending(ctx, event) is not None:
        ctx.state.clear()
    return [Text(ctx._("Refund cancelled; nothing was changed."))]
