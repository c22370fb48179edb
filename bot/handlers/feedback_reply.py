"""An admin answers a low rating (the alert's «Reply», admins only): the admin's next message
goes to the customer through the bot, framed as a message from the shop in the customer's
language; the admin is told it went, or that the customer can't be reached. Each answer is
written with an audit entry (action "reply"). The alert's «Give points» is the customer
card's own flow (bot/handlers/customers.py, ``cu.add``).

State: ``feedback_reply`` {purchase_id, customer_id, draft} while the answer is typed (not a
staff flow's state: any button abandons it). The draft id travels in «Cancel».
"""

from __future__ import annotations

import secrets
from datetime import date

from bot.console import audit
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import Translator
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.core.text import row_id
from bot.delivery.notify import Notification
from bot.handlers.desk import ADMIN, staff_only
from bot.loyalty.cards import format_card_number

router = Router()
router.gate(staff_only(router, ADMIN))

STATE = "feedback_reply"
MAX_ANSWER = 1000


def called(name: str | None, card_number: str) -> str:
    return name or format_card_number(card_number)


def cancel_button(ctx: Context, draft: str) -> Button:
    return Button(ctx._("✖ Cancel"), f"fb.no:{draft}")


@router.button("fb.re")
async def ask_answer(event: Event, ctx: Context) -> list[Reply]:
    """``fb.re:<purchase_id>``: the rated purchase; the admin types the answer next."""
    _ = ctx._
    purchase_id = row_id((event.payload or "").partition(":")[2])
    review = await ctx.uow.reviews.of_purchase(purchase_id) if purchase_id is not None else None
    customer = await ctx.uow.customers.get(review.customer_id) if review else None
    if review is None or customer is None:
        return [Text(_("This customer is no longer in the program; nothing was sent."))]
    draft = secrets.token_hex(4)
    ctx.state.go(STATE, purchase_id=review.purchase_id, customer_id=customer.id, draft=draft)
    who = called(customer.name, customer.card_number)
    lines = [_("Your answer to {who} (card {card}), who rated the visit {rating} of 5.").format(
        who=who, card=format_card_number(customer.card_number), rating=review.rating)]
    if review.comment:
        lines.append(_("Their comment: «{comment}»").format(comment=review.comment))
    lines.append(_("Write it in one message, up to {max} characters: the customer gets it in "
                   "their chat with the bot, from {shop}.").format(
        max=MAX_ANSWER, shop=ctx.settings.shop.name))
    return [Text("\n".join(lines), keyboard([cancel_button(ctx, draft)]))]


@router.state(STATE)
async def send_answer(event: Event, ctx: Context) -> list[Reply]:
    _, data = ctx._, ctx.state.data
    answer = event.text.strip()
    if not answer or len(answer) > MAX_ANSWER:
        return [Text(_("Please write the answer in 1 to {max} characters.").format(max=MAX_ANSWER),
                     keyboard([cancel_button(ctx, data["draft"])]))]
    ctx.state.clear()
    customer = await ctx.uow.customers.get(data["customer_id"])
    if customer is None:
        return [Text(_("This customer is no longer in the program; nothing was sent."))]
    who = called(customer.name, customer.card_number)
    if not await ctx.uow.identities.any_reachable(customer.id):
        return [Text(_("{who} can't be reached in a messenger now (they may have blocked the "
                       "bot); nothing was sent.").format(who=who))]
    purchase = await ctx.uow.purchases.get(data["purchase_id"])
    visit = ctx.local(purchase.occurred_at).date() if purchase else None
    ctx.notify(answer_notice(customer.id, ctx.settings.shop.name, visit, answer))
    await audit.record(ctx.uow, ctx.identity.id, "reply", customer.id, at=ctx.now,
                       purchase_id=data["purchase_id"], text=answer)
    return [Text(_("✅ Sent to {who}.").format(who=who), keyboard(
        [Button(_("🎁 Give points"), f"cu.add:{customer.id}")]))]


def answer_notice(customer_id: int, shop: str, visit: date | None, answer: str) -> Notification:
    """The shop's answer, framed in the customer's language."""
    def render(t: Translator) -> list[Reply]:
        head = (t.gettext("💬 {shop} answers your rating of the visit on {date}:").format(
            shop=shop, date=t.date(visit)) if visit else
            t.gettext("💬 {shop} answers your rating:").format(shop=shop))
        return [Text(head + "\n\n" + answer)]

    return Notification(render, customer_id=customer_id)


@router.button("fb.no")
async def cancel(event: Event, ctx: Context) -> list[Reply]:
    draft = (event.payload or "").partition(":")[2]
    if ctx.state.name == STATE and ctx.state.data.get("draft") == draft:
        ctx.state.clear()
    return [Text(ctx._("Cancelled; nothing was sent."))]
