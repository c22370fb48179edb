"""The loyalty card: a QR code with a signed short-lived token, the number under it, and
the links that put the same card into Apple Wallet or Google Wallet (when configured)."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.i18n import N_
from bot.core.replies import Button, Picture, Reply, Text, keyboard
from bot.core.routing import Router
from bot.handlers.checkout import serve_scanned_card
from bot.handlers.menu import menu_button
from bot.loyalty.cards import TOKEN_PREFIX, format_card_number
from bot.loyalty.tiers import current_tier, tier_label
from bot.wallet.barcode import WALLET_PREFIX
from bot.wallet.links import APPLE, GOOGLE, PassRequest

WALLET_LABELS = {APPLE: N_("Add to Apple Wallet"), GOOGLE: N_("Add to Google Wallet")}

router = Router()


@router.command("card")
@router.button("card")
async def show_card(event: Event, ctx: Context) -> list[Reply]:
    customer = ctx.member
    token = ctx.services.card_tokens.issue(customer.id, ctx.now)
    image = ctx.services.qr.png(ctx.channel.deep_link(TOKEN_PREFIX + token))
    tier = current_tier(customer.purchase_count, ctx.settings.program, customer.total_spent)
    balance = await ctx.ledger.balance(customer.id)
    minutes = ctx.services.card_tokens.guaranteed_minutes
    caption = "\n".join([
        customer.name or "",
        ctx._("Card № {number}").format(number=format_card_number(customer.card_number)),
        ctx._("Tier: {tier} · Balance: {points}").format(
            tier=tier_label(tier, ctx._), points=ctx.t.points(balance)),
        "",
        ctx.t.ngettext(
            "Show this QR code at the checkout within {minutes} minute; later, open the card "
            "again for a fresh one. The card number works too.",
            "Show this QR code at the checkout within {minutes} minutes; later, open the card "
            "again for a fresh one. The card number works too.", minutes).format(minutes=minutes),
    ])
    buttons = keyboard(*wallet_buttons(ctx),
                       [Button(ctx._("💰 Balance & history"), "balance"), menu_button(ctx)])
    return [Picture(image, caption, buttons, cache_key=token)]


def wallet_buttons(ctx: Context) -> list[list[Button]]:
    """A link button per configured wallet: the card in the language and for the messenger
    it is opened in (its barcode opens the bot there)."""
    links = ctx.services.wallet_links
    if links is None:
        return []
    request = PassRequest(ctx.member.id, ctx.channel.name, ctx.t.locale)
    return [[Button("📲 " + ctx._(WALLET_LABELS[wallet]), url=links.url(wallet, request, ctx.now))]
            for wallet in links.wallets]


@router.gate
async def scanned_card(event: Event, ctx: Context) -> list[Reply] | None:
    """Someone opened a card's QR link. Staff get the checkout screen for that customer;
    anyone else learns nothing but that it is a loyalty card."""
    if not (event.kind is EventKind.COMMAND and event.command == "start"
            and (event.payload or "").startswith((TOKEN_PREFIX, WALLET_PREFIX))):
        return None
    if ctx.role is not None:
        return await serve_scanned_card(ctx, event.payload or "")
    text = ctx._("This is a loyalty card of {shop}.").format(shop=ctx.settings.shop.name)
    if not ctx.is_member:
        text += "\n" + ctx._("Want your own? Send /start to join.")
    return [Text(text)]
