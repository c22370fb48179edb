"""Purchases and refunds: the points rules of the program, applied in one transaction.

Rules (defaults in config): the tier that applies to a purchase counts that purchase (the
first one is at Silver); points pay at most ``amount × max discount × tier share`` and never
more than the balance; cashback is earned on the part paid with money only; points are
whole currency units, always rounded down. A purchase is unique by (outlet, receipt): the
same request again returns the recorded result and changes nothing.

A refund (full or partial) reverses proportionally: the cashback is taken back (first from
the purchase's own lot, never below zero) and the spent points come back as one new lot
that lives until the latest expiry of the lots they were taken from, and at least
``refund_points_min_days``. A full refund takes the purchase off the purchase count.

A card an admin blocked (after a velocity alert, bot/loyalty/velocity.py) neither earns nor spends: a
new purchase on it is refused; refunds still go through.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from bot.config import ProgramSettings, Tier
from bot.core.clock import Clock, FrozenClock
from bot.loyalty.ledger import Ledger, spendable_now
from bot.loyalty.money import MINOR_PER_UNIT
from bot.loyalty.tiers import current_tier
from bot.loyalty.velocity import Flag, day_start, flags
from bot.storage.models import Customer, Purchase, Refund
from bot.storage.repositories.purchases import DayTotals
from bot.storage.uow import UnitOfWork
from bot.storage.views import CustomerView

BACKDATED = timedelta(days=1)


class CheckoutError(Exception):
    """A request the rules refuse; ``code`` is stable (the API returns it)."""

    code = "checkout_error"


class SpendAboveCap(CheckoutError):
    code = "spend_above_cap"

    def __init__(self, requested: int, cap: int) -> None:
        super().__init__(f"{requested} points requested, at most {cap} allowed")
        self.requested, self.cap = requested, cap


class ReceiptConflict(CheckoutError):
    code = "receipt_conflict"


class UnknownReceipt(CheckoutError):
    code = "unknown_receipt"


class RefundTooLarge(CheckoutError):
    code = "refund_too_large"

    def __init__(self, refundable: int) -> None:
        super().__init__(f"at most {refundable} minor units can still be refunded")
        self.refundable = refundable


class RefundConflict(CheckoutError):
    code = "refund_conflict"


class FutureDate(CheckoutError):
    code = "future_date"


class CustomerGone(CheckoutError):
    code = "customer_not_found"


class CardBlocked(CheckoutError):
    code = "card_blocked"


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    purchase_id: int
    receipt_id: str
    customer_id: int
    amount: int  # minor units
    earned: int
    spent: int
    balance: int
    tier: str | None
    tier_before: str | None
    replayed: bool  # True when this receipt was already recorded
    referrer_rewarded: int | None = None  # the referrer's customer id, when this paid them
    referral_bonus: int = 0  # what this customer got for having been invited
    backdated: bool = False  # an old receipt entered later: nobody needs telling about it
    flags: tuple[Flag, ...] = ()  # the velocity flags this purchase raised

    @property
    def tier_changed(self) -> bool:
        return self.tier != self.tier_before


@dataclass(frozen=True, slots=True)
class RefundResult:
    purchase_id: int
    receipt_id: str
    customer_id: int | None
    amount: int
    refunded_total: int
    points_returned: int
    points_reversed: int
    balance: int
    replayed: bool


def spend_cap(amount: int, balance: int, tier: Tier | None, program: ProgramSettings) -> int:
    """The most points a purchase of ``amount`` (minor units) may take: 4,000 at 15 % max
    discount is 600, of which Silver (25 %) may pay 150, Gold (75 %) 450, Platinum 600."""
    share = tier.spend_share_percent if tier else 0
    by_rules = amount * program.max_discount_percent * share // (100 * 100 * MINOR_PER_UNIT)
    return max(0, min(balance, by_rules))


def cashback(paid: int, tier: Tier | None) -> int:
    """Points for the part paid with money (minor units), rounded down."""
    return paid * (tier.cashback_percent if tier else 0) // (100 * MINOR_PER_UNIT)


def request_fingerprint(customer_id: int, amount: int, spend: int) -> str:
    raw = json.dumps([customer_id, amount, spend])
    return hashlib.sha256(raw.encode()).hexdigest()


class Checkout:
    def __init__(self, uow: UnitOfWork, clock: Clock, program: ProgramSettings,
                 zone: tzinfo = UTC) -> None:
        self.uow = uow
        self.clock = clock
        self.program = program
        self.zone = zone  # the shop's: where its days begin
        self.ledger = Ledger(uow, clock)

    def _moment(self) -> datetime:
        """The clock read once for a whole purchase or refund: every row it writes (the
        receipt, its lots, their expiry) carries the same moment."""
        now = self.clock.now()
        self.ledger = Ledger(self.uow, FrozenClock(now))
        return now

    def tier_for_next_purchase(self, customer: CustomerView, amount: int) -> Tier | None:
        return current_tier(customer.purchase_count + 1, self.program, customer.total_spent + amount)

    async def cap_for(self, customer: Customer, amount: int) -> int:
        balance = await self.ledger.balance(customer.id)
        return spend_cap(amount, balance, self.tier_for_next_purchase(customer, amount), self.program)

    async def purchase(
        self,
        *,
        customer_id: int,
        outlet_id: int,
        receipt_id: str,
        amount: int,
        spend: int = 0,
        occurred_at: datetime | None = None,
        source: str = "pos",
        actor: int | None = None,
        till: int | None = None,
    ) -> PurchaseResult:
        now = self._moment()
        if occurred_at is not None and occurred_at > now:
            raise FutureDate("a purchase can't happen in the future")
        customer = await self.uow.customers.lock(customer_id)
        fingerprint = request_fingerprint(customer_id, amount, spend)
        since = day_start(now, self.zone)
        standing = await self.uow.purchases.standing(outlet_id, receipt_id, customer_id, now, since)
        existing = (await self.uow.purchases.by_receipt(outlet_id, receipt_id, lock=True)
                    if standing.recorded else None)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise ReceiptConflict(f"receipt {receipt_id} is already recorded with other data")
            return self._replay(existing)
        if customer is None:
            raise CustomerGone(f"no customer {customer_id}")
        if customer.blocked_at is not None:
            raise CardBlocked("an admin blocked this card: it neither earns nor spends points")
        tier_before = current_tier(customer.purchase_count, self.program, customer.total_spent)
        tier = self.tier_for_next_purchase(customer, amount)
        balance = standing.balance
        cap = spend_cap(amount, balance, tier, self.program)
        if spend < 0 or spend > cap:
            raise SpendAboveCap(spend, cap)
        occurred = occurred_at or now
        # the points of an old receipt live from the day of that purchase, not from today
        lifetime = timedelta(days=self.program.purchase_points_days) - (now - occurred)
        hold = timedelta(days=self.program.purchase_points_hold_days)
        earned = cashback(amount - spend * MINOR_PER_UNIT, tier) if lifetime > timedelta(0) else 0
        bonus = self._referral_bonus_due(customer)
        # the balance after it, known without reading it again: what is spent leaves it, and
        # what is earned counts once spendable now and alive (as Ledger.balance counts lots)
        balance_after = (balance - spend + (earned if spendable_now(hold, lifetime) else 0)
                         + (bonus if spendable_now(timedelta(0), self._referral_lifetime) else 0))
        tier_after = tier.code if tier else None
        purchase_id = await self.uow.purchases.add(Purchase(
            outlet_id=outlet_id, receipt_id=receipt_id, customer_id=customer_id, amount=amount,
            points_spent=spend, points_earned=earned, refunded_amount=0, points_returned=0,
            points_reversed=0, balance_after=balance_after, tier_after=tier_after,
            request_hash=fingerprint, source=source, actor_identity_id=actor, pos_key_id=till,
            occurred_at=occurred, created_at=now,
        ))
        if spend:
            await self.ledger.spend(customer_id, spend, "purchase", reference=receipt_id,
                                    purchase_id=purchase_id, actor=actor)
        if earned:
            await self.ledger.earn(customer_id, earned, "purchase", lifetime, hold=hold,
                                   reference=receipt_id, purchase_id=purchase_id, actor=actor)
        await self.uow.customers.count_purchase(customer, amount)
        referrer = await self._reward_referral(customer, purchase_id) if bonus else None
        today = standing.today
        if occurred >= since:  # the card's purchases today, this one too
            today = DayTotals(today.purchases + 1, today.amount + amount,
                              today.earned + earned, today.spent + spend)
        return PurchaseResult(purchase_id, receipt_id, customer_id, amount, earned, spend,
                              balance_after, tier_after,
                              tier_before.code if tier_before else None, replayed=False,
                              referrer_rewarded=referrer, referral_bonus=bonus,
                              backdated=now - occurred > BACKDATED,
                              flags=await flags(self.uow, customer, actor, earned, since,
                                                self.program, today))

    @property
    def _referral_lifetime(self) -> timedelta:
        return timedelta(days=self.program.referral_bonus_days)

    def _referral_bonus_due(self, customer: Customer) -> int:
        """The referral bonus this purchase pays its customer: a referred customer's first
        purchase pays it (and their referrer's, see ``_reward_referral``)."""
        if (customer.referred_by is None or customer.referral_rewarded_at is not None
                or self.program.referral_bonus <= 0):
            return 0
        return self.program.referral_bonus

    async def _reward_referral(self, customer: Customer, purchase_id: int) -> int | None:
        """After a referred customer's first purchase (``_referral_bonus_due``) both sides
        get the referral bonus (the referrer at most ``referral_daily_cap`` times a day).
        Returns the referrer's id when they were rewarded too."""
        program = self.program
        now = self.ledger.clock.now()  # the purchase's moment
        customer.referral_rewarded_at = now
        lifetime = self._referral_lifetime
        await self.ledger.earn(customer.id, program.referral_bonus, "referral", lifetime,
                               purchase_id=purchase_id)
        referrer = customer.referred_by
        if referrer is None:  # checked by _referral_bonus_due; kept for the type checker
            return None
        await self.uow.customers.lock(referrer)  # two friends buying at once: one cap
        paid_today = await self.uow.lots.count_operations(
            referrer, "referral", now - timedelta(days=1), reference_prefix="friend:")
        if paid_today >= program.referral_daily_cap:
            return None
        await self.ledger.earn(referrer, program.referral_bonus, "referral", lifetime,
                               reference=f"friend:{customer.id}")
        return referrer

    def _replay(self, purchase: Purchase) -> PurchaseResult:
        return PurchaseResult(purchase.id, purchase.receipt_id, purchase.customer_id or 0,
                              purchase.amount, purchase.points_earned, purchase.points_spent,
                              purchase.balance_after, purchase.tier_after, purchase.tier_after,
                              replayed=True)

    async def refund(
        self,
        *,
        outlet_id: int,
        receipt_id: str,
        amount: int | None = None,
        refund_key: str | None = None,
        actor: int | None = None,
        till: int | None = None,
    ) -> RefundResult:
        """Refund ``amount`` minor units of a purchase (all that is left when None)."""
        now = self._moment()
        found = await self.uow.purchases.by_receipt(outlet_id, receipt_id)
        if found is None:
            raise UnknownReceipt(f"no purchase with receipt {receipt_id}")
        customer_id = found.customer_id
        if customer_id is not None:
            await self.uow.customers.lock(customer_id)
        # re-read under lock: a refund that ran meanwhile must be seen, not repeated
        purchase = await self.uow.purchases.by_receipt(outlet_id, receipt_id, lock=True)
        if purchase is None:  # purchases are never deleted; kept for the type checker
            raise UnknownReceipt(f"no purchase with receipt {receipt_id}")
        if refund_key is None and amount is None:
            refund_key = "rest"  # "refund all that is left", retried, is the same refund
        if refund_key is not None:
            done = await self.uow.purchases.refund_by_key(purchase.id, refund_key)
            if done is not None:
                if amount is not None and amount != done.amount:
                    raise RefundConflict(f"refund {refund_key} was recorded with another amount")
                return await self._refund_result(purchase, done, replayed=True)
        refundable = purchase.amount - purchase.refunded_amount
        amount = refundable if amount is None else amount
        if amount <= 0 or amount > refundable:
            raise RefundTooLarge(refundable)
        kept = refundable - amount
        keep_earned = purchase.points_earned * kept // purchase.amount
        keep_spent = purchase.points_spent * kept // purchase.amount
        reverse = purchase.points_earned - purchase.points_reversed - keep_earned
        give_back = purchase.points_spent - purchase.points_returned - keep_spent
        reversed_now = 0
        if customer_id is not None:
            reversed_now = await self._reverse(purchase, customer_id, reverse, give_back, actor)
            await self._recount(customer_id, amount, full=kept == 0)
            if kept == 0:
                await self._reverse_referral(purchase, customer_id, actor)
        refund = Refund(purchase_id=purchase.id, refund_key=refund_key, amount=amount,
                        points_returned=give_back, points_reversed=reversed_now,
                        actor_identity_id=actor, pos_key_id=till, created_at=now)
        await self.uow.purchases.refund(purchase, refund)
        purchase.points_returned += give_back
        purchase.points_reversed += reverse  # a shortfall is forgiven, not carried over
        return await self._refund_result(purchase, refund, replayed=False)

    async def _reverse(self, purchase: Purchase, customer_id: int, reverse: int, give_back: int,
                       actor: int | None) -> int:
        """Give the spent points back first, then take the cashback back: the two net out,
        so cashback the customer already spent is not simply forgiven."""
        if give_back > 0:
            now = self.ledger.clock.now()  # the refund's moment
            latest = await self.uow.lots.latest_expiry_spent_by(purchase.id)
            until = max(latest or now, now + timedelta(days=self.program.refund_points_min_days))
            await self.ledger.earn(customer_id, give_back, "refund", until - now,
                                   reference=purchase.receipt_id, purchase_id=purchase.id,
                                   actor=actor)
        if reverse <= 0:
            return 0
        return await self.ledger.take_back(customer_id, reverse, "refund", purchase_id=purchase.id,
                                           reference=purchase.receipt_id, actor=actor)

    async def _reverse_referral(self, purchase: Purchase, customer_id: int,
                                actor: int | None) -> None:
        """The friend's first purchase, which paid the referral bonus, refunded in full: both
        sides' bonus goes back, as far as their balances go (buy, refund and keep the bonus is
        the most common abuse). The bonus is not paid again for a later purchase."""
        paid = await self.uow.lots.referral_paid(purchase.id)
        if paid is None:
            return
        await self.ledger.take_back(customer_id, paid, "referral", purchase_id=purchase.id,
                                    reference=purchase.receipt_id, actor=actor)
        customer = await self.uow.customers.get(customer_id)
        referrer = customer.referred_by if customer is not None else None
        if referrer is not None and (given := await self.uow.lots.referral_given(
                referrer, f"friend:{customer_id}")):
            await self.uow.customers.lock(referrer)
            await self.ledger.take_back(referrer, given, "referral",
                                        reference=f"friend:{customer_id}", actor=actor)

    async def _recount(self, customer_id: int, amount: int, full: bool) -> None:
        customer = await self.uow.customers.get(customer_id)
        if customer is None:
            return
        customer.total_spent = max(0, customer.total_spent - amount)
        if full:
            customer.purchase_count = max(0, customer.purchase_count - 1)

    async def _refund_result(self, purchase: Purchase, refund: Refund, replayed: bool) -> RefundResult:
        balance = await self.ledger.balance(purchase.customer_id) if purchase.customer_id else 0
        return RefundResult(purchase.id, purchase.receipt_id, purchase.customer_id, refund.amount,
                            purchase.refunded_amount, refund.points_returned,
                            refund.points_reversed, balance, replayed)
