"""What a customer is told after a purchase or a refund made by a cashier or a till.
Rendered in the customer's own language when delivered (see bot/delivery/notify.py)."""

from __future__ import annotations

from bot.config import Settings
from bot.core.i18n import Translator
from bot.core.replies import Button, Reply, Text, keyboard
from bot.delivery.notify import Notification
from bot.handlers.referral import referral_notice
from bot.loyalty.checkout import PurchaseResult, RefundResult
from bot.loyalty.tiers import tier_label
from bot.loyalty.velocity import alerts

RATINGS = range(1, 6)


def review_payload(purchase_id: int, rating: int) -> str:
    return f"review:{purchase_id}:{rating}"


def purchase_notice(result: PurchaseResult, settings: Settings) -> Notification:
    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        lines = [_("Thank you for your purchase of {amount}!").format(
            amount=t.money(result.amount, settings.shop.currency))]
        if result.spent:
            lines.append(_("Paid with points: {points}.").format(points=t.points(result.spent)))
        if result.earned:
            lines.append(_("Earned: +{points}.").format(points=t.points(result.earned)))
        if result.referral_bonus:
            lines.append(_("And +{points} for joining on a friend's invitation.").format(
                points=t.points(result.referral_bonus)))
        lines.append(_("Balance: {points}.").format(points=t.points(result.balance)))
        if result.tier_changed and result.tier:
            tier = next((x for x in settings.program.tiers if x.code == result.tier), None)
            lines.append(_("Congratulations, your new tier is {tier}!").format(
                tier=tier_label(tier, _)))
        lines += ["", _("How was your visit? Rate it from 1 to 5:")]
        stars = [Button(str(rating), review_payload(result.purchase_id, rating)) for rating in RATINGS]
        return [Text("\n".join(lines), keyboard(stars))]

    return Notification(render, customer_id=result.customer_id)


def purchase_notifications(result: PurchaseResult, settings: Settings) -> list[Notification]:
    """Everyone a recorded purchase concerns: its customer, and the friend who invited them
    when this first purchase paid the referral bonus; the admins when it raised a velocity
    flag."""
    notifications = alerts(result.flags, settings)
    if result.backdated:
        return notifications
    notifications.append(purchase_notice(result, settings))
    if result.referrer_rewarded is not None:
        notifications.append(referral_notice(result.referrer_rewarded, settings))
    return notifications


def refund_notice(result: RefundResult, settings: Settings) -> Notification:
    def render(t: Translator) -> list[Reply]:
        _ = t.gettext
        lines = [_("Your purchase {receipt} was refunded: {amount}.").format(
            receipt=result.receipt_id, amount=t.money(result.amount, settings.shop.currency))]
        if result.points_returned:
            lines.append(_("Points returned: +{points}.").format(points=t.points(result.points_returned)))
        if result.points_reversed:
            lines.append(_("Points for it withdrawn: −{points}.").format(
                points=t.points(result.points_reversed)))
        lines.append(_("Balance: {points}.").format(points=t.points(result.balance)))
        return [Text("\n".join(lines))]

    return Notification(render, customer_id=result.customer_id)
