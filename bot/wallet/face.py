"""What a wallet card shows, read as it is now: the shop, the customer's name, the card
number, tier and balance, and the barcode (a fresh ``pass-`` token in a deep link of the
messenger the card was asked for in). Written in the card's language; Apple's pass and
Google's object are two renderings of this one face."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.context import Services
from bot.core.i18n import N_, Translator
from bot.loyalty.cards import format_card_number
from bot.loyalty.program_settings import effective_settings
from bot.loyalty.tiers import current_tier, tier_label
from bot.storage.models import WalletPass
from bot.storage.uow import UnitOfWork
from bot.wallet.barcode import WALLET_PREFIX

POINTS = N_("Points")
TIER = N_("Tier")
CARD = N_("Card")
NAME = N_("Name")


@dataclass(frozen=True, slots=True)
class CardFace:
    serial: str
    shop: str
    name: str
    card_number: str  # as printed: four digits at a time
    tier: str
    balance: int
    barcode: str  # what the code holds: a deep link, else the bare pass- token
    t: Translator

    def label(self, msgid: str) -> str:
        return self.t.gettext(msgid)

    @property
    def description(self) -> str:
        return self.t.gettext("Loyalty card of {shop}").format(shop=self.shop)


async def read_face(uow: UnitOfWork, services: Services, wallet_pass: WalletPass,
                    deep_link: Callable[[str], str] | None) -> CardFace | None:
    """The card as it is now; None when the customer is gone (erased, joined into another)."""
    customer = await uow.customers.get(wallet_pass.customer_id)
    if customer is None:
        return None
    now = services.clock.now()
    settings = await effective_settings(uow, services.settings)
    t = services.i18n.translator(wallet_pass.locale)
    tier = current_tier(customer.purchase_count, settings.program, customer.total_spent)
    token = WALLET_PREFIX + services.scanner.wallet.issue(customer.id, now)
    return CardFace(
        serial=wallet_pass.serial, shop=settings.shop.name,
        name=customer.name or "", card_number=format_card_number(customer.card_number),
        tier=tier_label(tier, t.gettext),
        balance=await uow.lots.available_balance(customer.id, now),
        barcode=deep_link(token) if deep_link else token, t=t)
