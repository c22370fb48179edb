"""The cashier at checkout: how many points pay for the draft's purchase, the cap (the
most the rules allow for it, within the balance) or another number up to it."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import whole_number
from bot.handlers.checkout import cancel_button, no_checkout
from bot.handlers.checkout_draft import cap_of, draft_screen, open_draft, summary
from bot.handlers.desk import STAFF, staff_only

router = Router()
router.gate(staff_only(router, STAFF))


@router.button("co.spend", "co.other")
async def choose_points(event: Event, ctx: Context) -> list[Reply]:
    """«Pay with points» offers the cap or another number; «Another number» asks for it."""
    customer = await open_draft(event, ctx)
    if customer is None:
        return no_checkout(ctx)
    _, cap = await cap_of(ctx, customer)
    if cap == 0:
        return await draft_screen(ctx, customer)
    receipt = ctx.state.data["receipt"]
    cancel = [cancel_button(ctx, customer.id, receipt)]
    if (event.payload or "").startswith("co.other:"):
        ctx.state.go("checkout.points", **ctx.state.data)
        return [Text(ctx._("Type how many points to pay, from 1 to {points}.").format(
            points=ctx.t.points(cap)), keyboard(cancel))]
    return [Text(ctx._("How many points does the customer pay with?"), keyboard(
        [Button(ctx._("Pay {points}").format(points=ctx.t.points(cap)), f"co.pay:{receipt}:{cap}")],
        [Button(ctx._("✏️ Another number"), f"co.other:{receipt}")], cancel))]


@router.button("co.pay")
async def pay(event: Event, ctx: Context) -> list[Reply]:
    customer = await open_draft(event, ctx)
    points = whole_number((event.payload or "").split(":")[-1])
    return await summary(ctx, customer, points) if customer and points is not None else no_checkout(ctx)


@router.state("checkout.points")
async def typed_points(event: Event, ctx: Context) -> list[Reply]:
    customer = await ctx.uow.customers.get(ctx.state.data["customer_id"])
    if customer is None:
        ctx.state.clear()
        return [Text(ctx._("This customer is no longer in the program."))]
    _, cap = await cap_of(ctx, customer)
    points = whole_number("".join(event.text.split()))
    if points is None or not 1 <= points <= cap:
        return [Text(ctx._("Please type a whole number from 1 to {points}.").format(
            points=ctx.t.points(cap)))]
    return await summary(ctx, customer, points)
