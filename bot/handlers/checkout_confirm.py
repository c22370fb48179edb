"""The cashier at checkout, step three: record the confirmed draft (once, by its receipt
id), show the result, tell the customer; or cancel the draft."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.checkout import blocked_card, checkout_of, money, no_checkout, out_of_date
from bot.handlers.checkout_draft import draft_screen, new_receipt_id, open_draft, summary
from bot.handlers.desk import STAFF, outlet_of, staff_only
from bot.handlers.notices import purchase_notifications
from bot.loyalty.checkout import CardBlocked, CustomerGone, PurchaseResult, ReceiptConflict, SpendAboveCap
from bot.loyalty.tiers import tier_label
from bot.storage.views import PurchaseView

router = Router()
router.gate(staff_only(router, STAFF))


@router.button("co.ok")
async def confirm(event: Event, ctx: Context) -> list[Reply]:
    _, receipt, spend = ((event.payload or "") + "::").split(":")[:3]
    outlet_id = ctx.state.data.get("outlet_id") or (await outlet_of(ctx)).id
    recorded = await ctx.uow.purchases.by_receipt(outlet_id, receipt)
    if recorded is not None:  # a second tap, or a button from an old message
        return [Text(ctx._("This purchase is already recorded."))] + result_screen(ctx, recorded)
    customer = await open_draft(event, ctx)
    if customer is None or str(ctx.state.data["spend"]) != spend:
        return no_checkout(ctx)
    data = ctx.state.data
    try:
        result = await checkout_of(ctx).purchase(
            customer_id=customer.id, outlet_id=data["outlet_id"], receipt_id=receipt,
            amount=data["amount"], spend=data["spend"], source="chat", actor=ctx.identity.id)
    except SpendAboveCap as error:  # the balance changed since the choice
        ctx.state.go("checkout.draft", **{**data, "spend": 0})
        return await draft_screen(ctx, customer, ctx._(
            "The customer's balance has changed: points may now pay at most {points}.").format(
            points=ctx.t.points(error.cap)))
    except ReceiptConflict:
        # a till or another draft took this receipt id after the check above, which is not under
        # the customer's lock (on PostgreSQL another transaction can commit in between; see
        # test_a_receipt_a_till_takes_meanwhile_…): a new receipt id, and confirm once more
        ctx.state.go("checkout.draft", **{**data, "receipt": await new_receipt_id(ctx, data["outlet_id"])})
        return await summary(ctx, customer, data["spend"])
    except CustomerGone:
        ctx.state.clear()
        return [Text(ctx._("This customer is no longer in the program."))]
    except CardBlocked:  # blocked while the draft was open
        ctx.state.clear()
        return [blocked_card(ctx)]
    ctx.state.clear()
    for notification in purchase_notifications(result, ctx.settings):
        ctx.notify(notification)
    recorded = await ctx.uow.purchases.get(result.purchase_id)
    return [Text(ctx._("✅ Recorded."))] + result_screen(ctx, recorded, result)


def result_screen(ctx: Context, purchase: PurchaseView | None, result: PurchaseResult | None = None
                  ) -> list[Reply]:
    _ = ctx._
    if purchase is None:
        return []
    lines = [_("Receipt: {receipt}").format(receipt=purchase.receipt_id),
             _("Purchase: {amount}").format(amount=money(ctx, purchase.amount))]
    if purchase.points_spent:
        lines.append(_("Paid with points: {points}").format(points=ctx.t.points(purchase.points_spent)))
    lines += [_("Earned: +{points}").format(points=ctx.t.points(purchase.points_earned)),
              _("Customer's balance: {points}").format(points=ctx.t.points(purchase.balance_after))]
    if result is not None and result.tier_changed and result.tier:
        tier = next((t for t in ctx.settings.program.tiers if t.code == result.tier), None)
        lines.append(_("New tier: {tier}!").format(tier=tier_label(tier, _)))
    buttons = [Button(_("↩️ Refund"), f"rf.ask:{purchase.receipt_id}"),
               Button(_("🧾 Next customer"), "co.start")]
    return [Text("\n".join(lines), keyboard(buttons))]


@router.button("co.cancel")
async def cancel(event: Event, ctx: Context) -> list[Reply]:
    """``co.cancel:<customer_id>:<receipt>`` (no receipt before there is a draft): closes the
    checkout if it is still this customer's (and this draft's)."""
    customer_id, _, receipt = (event.payload or "").partition(":")[2].partition(":")
    data = ctx.state.data
    if receipt and await ctx.uow.purchases.by_receipt(
            data.get("outlet_id") or (await outlet_of(ctx)).id, receipt) is not None:
        return [Text(ctx._("This purchase is already recorded. To undo it, refund it: "
                           "/refund {receipt}").format(receipt=receipt))]
    if not (ctx.state.name or "").startswith("checkout."):
        return [Text(ctx._("Cancelled; nothing was recorded."))]
    if str(data.get("customer_id")) != customer_id:
        return out_of_date(ctx)
    if receipt not in ("", data.get("receipt")):  # an old draft's button; the open one stays
        return no_checkout(ctx)
    ctx.state.clear()
    return [Text(ctx._("Cancelled; nothing was recorded."))]
