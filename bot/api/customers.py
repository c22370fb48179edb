"""The customer a till means (a card number, a QR token or a phone), enrolment at the
till, and the card summary the till shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.api.http import ApiError, invalid
from bot.api.payloads import EnrolForm
from bot.config import ProgramSettings
from bot.loyalty.cards import new_card_number, normalize_card_number
from bot.loyalty.tiers import current_tier
from bot.storage.models import Customer
from bot.storage.uow import UnitOfWork
from bot.wallet.barcode import CardScanner, InvalidScan

ENROLLED_AT_TILL = "pos"  # the customer's acquisition source


def _typed_number(text: str) -> bool:
    return all(ch.isdecimal() or ch in " -" for ch in text)


async def by_card(uow: UnitOfWork, scanner: CardScanner, text: str, now: datetime, *,
                  lock: bool = False) -> Customer:
    """A typed card number (its check digit must match), a scanned QR token with or
    without the ``card-`` prefix of the deep link, or a wallet card's ``pass-`` token; with
    ``lock``, found and locked at once (``Customers.lock``: a purchase)."""
    text = text.strip()
    if _typed_number(text):
        number = normalize_card_number(text)
        if number is None:
            raise invalid("invalid_card_number",
                          "this is not a card number: check the digits (12, the last is a check digit)")
        customer = await uow.customers.by_card_number(number, lock=lock)
    else:
        try:
            token = scanner.verify(text, now).card
        except InvalidScan as error:
            if error.from_wallet:
                raise invalid("invalid_card_token", "the wallet card's code is forged or expired: "
                                                    "type the card number under it") from None
            raise invalid("invalid_card_token", "the QR code is forged or expired: ask the "
                                                "customer to open the card again") from None
        customer = await (uow.customers.lock(token.customer_id) if lock
                          else uow.customers.get(token.customer_id))
    if customer is None:
        raise ApiError(404, "card_not_found", "no customer has this card")
    return customer


async def by_phone(uow: UnitOfWork, phone: str, *, lock: bool = False) -> Customer:
    """Only a verified phone (shared in a messenger or given at a till) finds a customer
    (with ``lock``, found and locked at once)."""
    customer = await uow.customers.by_verified_phone(phone, lock=lock)
    if customer is None:
        raise ApiError(404, "customer_not_found", "no customer has this phone")
    return customer


async def enrol(uow: UnitOfWork, form: EnrolForm, now: datetime) -> tuple[Customer, bool]:
    """The customer with this phone, created if there is none (True when created). The
    phone given at the till counts as verified: when the person opens the bot and shares
    the same number, it is the same account, and the bot finishes the profile."""
    existing = await uow.customers.by_verified_phone(form.phone)
    if existing is not None:
        return existing, False
    birthday = form.birthday
    customer = Customer(
        phone=form.phone, phone_verified=True, name=form.name,
        birth_day=birthday.day if birthday else None,
        birth_month=birthday.month if birthday else None,
        birth_year=birthday.year if birthday else None,
        source=ENROLLED_AT_TILL, consent_at=now, registered_at=None, created_at=now,
    )
    return await uow.customers.add(customer, new_card_number), True


def card_summary(customer: Customer, balance: int, program: ProgramSettings) -> dict[str, Any]:
    tier = current_tier(customer.purchase_count, program, customer.total_spent)
    return {
        "card_number": customer.card_number,
        "name": customer.name,
        "tier": tier.code if tier else None,
        "balance": balance,
        "purchase_count": customer.purchase_count,
        "blocked": customer.blocked_at is not None,
    }
