"""Invite a friend: a personal deep link, also as a button (the messenger's «send to…» where
it has one: Telegram, WhatsApp); both sides get the referral bonus after the friend's first purchase (paid by
``Checkout._reward_referral``), and the friend's greeting says so.

A friend is attributed once, when their customer is created at sign-up from a first
/start with ``ref-<code>``. Nobody refers themselves: not the same customer, not the same
phone, not a phone whose owner deleted their data and came back. Unknown codes count as a
plain acquisition source.
"""

from __future__ import annotations

import secrets

from bot.config import Settings
from bot.core.context import Context
from bot.core.events import Event
from bot.core.i18n import Translator
from bot.core.keys import phone_fingerprint
from bot.core.person import Member
from bot.core.replies import Button, Reply, Text, keyboard
from bot.core.routing import Router
from bot.delivery.notify import Notification
from bot.handlers.menu import menu_button

router = Router()

REFERRAL_PREFIX = "ref-"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to misread: no 0/o, 1/l/i
CODE_LENGTH = 8


def new_referral_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def referral_code_of(ctx: Context, customer: Member) -> str:
    """The customer's code, made on first use (unique: a collision draws again)."""
    if customer.referral_code is not None:
        return customer.referral_code
    while await ctx.uow.customers.by_referral_code(code := new_referral_code()) is not None:
        pass
    await ctx.uow.customers.set_referral_code(customer.id, code)
    ctx.reread()
    return code


async def attribute_referral(ctx: Context, customer: Member) -> None:
    """Sign-up created ``customer``: if the first /start carried a friend's code, the friend
    becomes the referrer, unless it is the same person."""
    source = ctx.identity.source or ""
    if not source.startswith(REFERRAL_PREFIX):
        return
    referrer = await ctx.uow.customers.by_referral_code(source.removeprefix(REFERRAL_PREFIX))
    if referrer is None or referrer.id == customer.id:
        return
    if referrer.phone is not None and referrer.phone == customer.phone:
        return
    if customer.phone_verified and customer.phone and await ctx.uow.customers.was_erased(
            phone_fingerprint(ctx.services.secret, customer.phone)):
        return  # joined before and deleted their data: not a new friend
    await ctx.uow.customers.set_referrer(customer.id, referrer.id)
    ctx.reread()


async def invitation(ctx: Context) -> str | None:
    """What a newcomer who opened a friend's link gets for it, for the greeting; None when
    they came otherwise (an unknown code too) or the program pays no referral bonus."""
    source, bonus = ctx.identity.source or "", ctx.settings.program.referral_bonus
    if bonus <= 0 or not source.startswith(REFERRAL_PREFIX):
        return None
    if await ctx.uow.customers.by_referral_code(source.removeprefix(REFERRAL_PREFIX)) is None:
        return None
    return ctx._("🤝 A friend has invited you. Join, and after your first purchase you get "
                 "{points} for it (and so does your friend).").format(
        points=ctx.t.points(bonus))


def link_buttons(ctx: Context, link: str) -> list[Button]:
    """The messenger's own «send to…» where it has one, else the link itself as a button
    (the web chat shows text as typed, so a link in it is not clickable); none for a link
    that is not a web address (Viber's own scheme stays in the text, where Viber opens it)."""
    bonus = ctx.settings.program.referral_bonus
    share = ctx.channel.share_link
    if share is None:
        web = link.startswith(("https://", "http://"))
        return [Button(ctx._("🔗 My invitation link"), url=link)] if web else []
    message = (ctx._("Join the loyalty program of {shop}: after your first purchase we both "
                     "get {points}.") if bonus > 0 else
               ctx._("Join the loyalty program of {shop}.")).format(
        shop=ctx.settings.shop.name, points=ctx.t.points(bonus))
    return [Button(ctx._("📤 Send to a friend"), url=share(message, link))]


@router.command("friends")
@router.button("friends")
async def invite(event: Event, ctx: Context) -> list[Reply]:
    _ = ctx._
    customer = ctx.member
    link = ctx.channel.deep_link(REFERRAL_PREFIX + await referral_code_of(ctx, customer))
    bonus = ctx.settings.program.referral_bonus
    if bonus > 0:
        rule = _("Send this personal link to a friend. When they join through it and make "
                 "their first purchase, you both get {points}.").format(points=ctx.t.points(bonus))
    else:
        rule = _("Send this personal link to a friend: it opens our loyalty program.")
    lines = [rule, "", link]
    joined, bought = await ctx.uow.customers.friends_of(customer.id)
    if joined:
        lines += ["", _("Friends who joined: {joined}; made a purchase: {bought}.").format(
            joined=ctx.t.number(joined), bought=ctx.t.number(bought))]
    return [Text("\n".join(lines), keyboard(link_buttons(ctx, link), [menu_button(ctx)]))]


def referral_notice(referrer_id: int, settings: Settings) -> Notification:
    """For the referrer, when a purchase paid them (``PurchaseResult.referrer_rewarded``)."""
    points = settings.program.referral_bonus

    def render(t: Translator) -> list[Reply]:
        return [Text(t.gettext("Your friend made their first purchase: +{points} for the "
                               "invitation. Thank you!").format(points=t.points(points)))]

    return Notification(render, customer_id=referrer_id)
