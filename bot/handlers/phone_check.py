"""A member verifies a typed phone by sharing it with the messenger's own button (Settings
offers it where the messenger has one). A number nobody has verified becomes this card's
verified phone, and links it in every messenger from then on; a number verified on another
card is not linked silently: the admins are asked whether to merge the two cards
(bot/loyalty/shared_phones.py)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.replies import AskContact, Button, Reply
from bot.core.routing import Router
from bot.handlers.menu import main_menu
from bot.loyalty import shared_phones
from bot.loyalty.phones import normalize_phone

router = Router()


def verify_button(ctx: Context) -> list[Button]:
    """Settings' row for a typed phone, where a messenger button can verify it."""
    if ctx.member.phone_verified or not ctx.channel.verified_contacts:
        return []
    return [Button(ctx._("📱 Verify my phone number"), "phone.verify")]


@router.button("phone.verify")
async def ask_for_contact(event: Event, ctx: Context) -> list[Reply]:
    if ctx.member.phone_verified:
        return [main_menu(ctx, ctx._("Your phone number is already verified."))]
    return [AskContact(ctx._("Share your phone number with the button below: it verifies the "
                             "number, and your card then opens in every messenger you share "
                             "it from."), ctx._("📱 Share my phone number"))]


@router.gate
async def shared_contact(event: Event, ctx: Context) -> list[Reply] | None:
    """A member shared a contact (sign-up takes everyone else's)."""
    if event.kind is not EventKind.CONTACT or event.contact is None or not ctx.is_member:
        return None
    _ = ctx._
    customer = ctx.member
    if not event.contact.is_own:
        return [main_menu(ctx, _("This contact is not yours: only your own number can be "
                                 "verified."))]
    phone = normalize_phone(event.contact.phone, ctx.settings.shop.phone_region)
    if phone is None:
        return [main_menu(ctx, _("That doesn't look like a phone number."))]
    if customer.phone_verified:
        text = (_("Your phone number is already verified.") if customer.phone == phone else
                _("Your card already has a verified phone number, {phone}.").format(
                    phone=customer.phone))
        return [main_menu(ctx, text)]
    owner = await ctx.uow.customers.by_verified_phone(phone)
    if owner is not None:
        if phone == customer.phone:  # the number this card typed: one person, maybe
            await ask_admins(ctx)
            return [main_menu(ctx, _("This number is verified on another card. We have asked "
                                     "the shop to check: if both cards are yours, they will be "
                                     "joined into one, and we will let you know."))]
        return [main_menu(ctx, _("This number is verified on another card, so it can't be "
                                 "added to this one."))]
    await ctx.uow.customers.verify_phone(customer.id, phone)
    await ctx.uow.flush()  # the verified phone is unique: a race fails here
    ctx.reread()
    await ask_admins(ctx)
    return [main_menu(ctx, _("Thank you, your phone number is verified: your card now opens in "
                             "every messenger you share it from."))]


async def ask_admins(ctx: Context) -> None:
    for pair in await shared_phones.twins_of(ctx.uow, ctx.member.id, ctx.now):
        ctx.notify(await shared_phones.alert(ctx.uow, pair, ctx.now))
