"""Feedback: a 1–5 rating of a purchase (the buttons under the purchase notice, or the
menu's "Feedback" for the latest unrated visit), the review bonus once per purchase, an
optional comment. A low rating alerts every admin at once, with «Reply» and «Give points»;
its comment follows, with the same two."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import Translator
from bot.core.person import Member
from bot.core.replies import Button, Keyboard, Reply, Text, keyboard
from bot.core.routing import Router
from bot.delivery.notify import Notification
from bot.handlers.fallback import not_understood
from bot.handlers.menu import main_menu, menu_button
from bot.handlers.notices import RATINGS, review_payload
from bot.loyalty.cards import format_card_number
from bot.storage.views import PurchaseView

router = Router()

MAX_COMMENT_LENGTH = 1000
RATING_PAYLOAD = re.compile(r"review:(\d{1,18}):(\d)", re.ASCII)


def alert_buttons(t: Translator, customer_id: int, purchase_id: int) -> Keyboard:
    """«Reply» (bot/handlers/feedback_reply.py) and «Give points» (the customer card's own
    flow, bot/handlers/customers.py)."""
    return keyboard([Button(t.gettext("↩️ Reply"), f"fb.re:{purchase_id}"),
                     Button(t.gettext("🎁 Give points"), f"cu.add:{customer_id}")])


async def rating_alert(ctx: Context, customer: Member, purchase: PurchaseView,
                       rating: int) -> Notification:
    """For every admin, at once: who rated which purchase how low, with what to do."""
    outlet = await ctx.uow.outlets.get(purchase.outlet_id)
    name, card = customer.name or "—", format_card_number(customer.card_number)
    amount, currency = purchase.amount, ctx.settings.shop.currency
    day, place = ctx.local(purchase.occurred_at).date(), outlet.name if outlet else "—"
    customer_id, purchase_id = customer.id, purchase.id

    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        return [Text("\n".join([
            _("⚠️ Low rating: {rating} of 5").format(rating=rating),
            _("Customer: {name}, card {card}").format(name=name, card=card),
            _("Purchase: {amount} on {date}, {outlet}").format(
                amount=t.money(amount, currency), date=t.date(day), outlet=place),
        ]), alert_buttons(t, customer_id, purchase_id))]

    return Notification(render, admins=True)


def comment_alert(customer: Member, rating: int, comment: str, purchase_id: int) -> Notification:
    name, card = customer.name or "—", format_card_number(customer.card_number)
    customer_id = customer.id

    def render(t: Translator) -> list[Reply]:
        heading = t.gettext("💬 Comment to the rating {rating} of 5 from {name}, card {card}:")
        return [Text(heading.format(rating=rating, name=name, card=card) + "\n" + comment,
                     alert_buttons(t, customer_id, purchase_id))]

    return Notification(render, admins=True)


def parse_rating(payload: str) -> tuple[int, int] | None:
    """``review:<purchase_id>:<rating>`` → (purchase_id, rating)."""
    match = RATING_PAYLOAD.fullmatch(payload)
    if match is None or int(match[2]) not in RATINGS:
        return None
    return int(match[1]), int(match[2])


@router.button("review")
async def rate(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    customer, program = ctx.member, ctx.settings.program
    parsed = parse_rating(event.payload or "")
    purchase = await ctx.uow.purchases.get(parsed[0]) if parsed else None
    if parsed is None or purchase is None or purchase.customer_id != customer.id:
        return await not_understood(event, ctx)  # not theirs to rate: nothing to tell
    if await ctx.uow.reviews.of_purchase(purchase.id) is not None:
        return [main_menu(ctx, _("You have already rated this visit. Thank you!"))]
    if purchase.refunded_amount >= purchase.amount:
        return [main_menu(ctx, _("This purchase was refunded, so there is nothing to rate."))]
    rating = parsed[1]
    ctx.uow.reviews.rate(purchase.id, customer.id, rating, ctx.now)
    lines = [_("Thank you for the rating!")]
    if program.review_bonus > 0:
        await ctx.ledger.earn(customer.id, program.review_bonus, "review",
                              timedelta(days=program.review_bonus_days),
                              reference=f"purchase:{purchase.id}")
        lines.append(_("+{points} for your feedback.").format(
            points=ctx.t.points(program.review_bonus)))
    if rating <= program.low_rating_alert:
        ctx.notify(await rating_alert(ctx, customer, purchase, rating))
        lines.append(_("We're sorry the visit fell short. What went wrong? Write a few words: "
                       "the owner reads every one. Or press «Skip»."))
    else:
        lines.append(_("Would you like to add a comment? Just write it here, or press «Skip»."))
    ctx.state.go("feedback.comment", purchase_id=purchase.id)
    return [Text("\n".join(lines), keyboard([Button(_("Skip"), "feedback:skip")]))]


@router.state("feedback.comment")
async def take_comment(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    comment = event.text.strip()
    if not comment or len(comment) > MAX_COMMENT_LENGTH:
        return [Text(ctx.t.ngettext(
            "Please write your comment in up to {limit} character, or press «Skip».",
            "Please write your comment in up to {limit} characters, or press «Skip».",
            MAX_COMMENT_LENGTH).format(limit=MAX_COMMENT_LENGTH),
                     keyboard([Button(_("Skip"), "feedback:skip")]))]
    review = await ctx.uow.reviews.of_purchase(int(ctx.state.data.get("purchase_id", 0)))
    ctx.state.clear()
    if review is None or review.customer_id != ctx.member.id:
        return [main_menu(ctx)]
    ctx.uow.reviews.set_comment(review, comment)
    if review.rating <= ctx.settings.program.low_rating_alert:
        ctx.notify(comment_alert(ctx.member, review.rating, comment, review.purchase_id))
    return [main_menu(ctx, _("Thank you, we have passed your comment on."))]


@router.command("feedback")
@router.button("feedback")
async def feedback(event: Event, ctx: Context) -> list[Reply]:
    """The menu entry: rate the latest unrated visit ("feedback:skip" ends a comment)."""
    _ = ctx._
    if event.kind is EventKind.BUTTON and event.payload == "feedback:skip":
        return [main_menu(ctx, _("Thank you!"))]
    purchase = await ctx.uow.reviews.latest_unrated(ctx.member.id)
    if purchase is None:
        return [main_menu(ctx, _("There is no visit to rate right now. After your next purchase "
                                 "you can rate it here."))]
    text = _("How was your visit on {date} ({amount})? Rate it from 1 to 5:").format(
        date=ctx.t.date(ctx.local(purchase.occurred_at).date()),
        amount=ctx.t.money(purchase.amount, ctx.settings.shop.currency))
    bonus = ctx.settings.program.review_bonus
    if bonus > 0:
        text += "\n" + _("A rating brings you {points}.").format(points=ctx.t.points(bonus))
    stars = [Button(str(rating), review_payload(purchase.id, rating)) for rating in RATINGS]
    return [Text(text, keyboard(stars, [menu_button(ctx)]))]
