"""The welcome bonus, once per phone number: typed or verified, on this card or another
one, before or after an earlier owner of the number deleted their data."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import ProgramSettings
from bot.core.keys import phone_fingerprint
from bot.loyalty.ledger import Ledger
from bot.storage.models import Customer
from bot.storage.uow import UnitOfWork


async def _welcome_is_due(uow: UnitOfWork, secret: bytes, customer: Customer,
                         now: datetime) -> bool:
    """Whether the joining ``customer`` gets the welcome bonus; when they do, their number
    is recorded as welcomed in the caller's transaction."""
    if customer.phone is None:
        return True
    fingerprint = phone_fingerprint(secret, customer.phone)
    if await uow.customers.was_erased(fingerprint):
        return False  # an earlier owner of the number deleted their data
    if await uow.customers.welcomed_elsewhere(customer):
        return False
    return await uow.customers.claim_welcome(fingerprint, now)


async def give_welcome_bonus(ledger: Ledger, secret: bytes, customer_id: int,
                             program: ProgramSettings) -> bool:
    """The joining customer's welcome bonus, when it is due (the program has one and
    their number has not had it); False when it is not."""
    if program.welcome_bonus <= 0:
        return False
    customer = await ledger.uow.customers.get(customer_id)  # loaded by the caller: no SQL
    if customer is None:
        return False
    if not await _welcome_is_due(ledger.uow, secret, customer, ledger.clock.now()):
        return False
    await ledger.earn(customer.id, program.welcome_bonus, "welcome",
                      timedelta(days=program.welcome_bonus_days))
    return True
