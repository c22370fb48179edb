"""Customers (cards): found, added, locked, registered, merged and erased."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import Select, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm.attributes import set_committed_value

from bot.storage.day_book import DayBook
from bot.storage.models import (
    AuditEntry,
    BroadcastRecipient,
    Customer,
    ErasedPhone,
    Identity,
    PointLot,
    PointOperation,
    Purchase,
    Review,
    SharedPhone,
    Staff,
    TriggerSend,
    WelcomedPhone,
)
from bot.storage.repositories._sql import insert_ignoring_duplicates
from bot.storage.repositories.wallet_passes import WalletPasses
from bot.storage.session import COUNTED, plain, row_locks

_Twinned = TypeVar("_Twinned", TriggerSend, BroadcastRecipient)  # one row per customer and episode

class Friends(NamedTuple):
    """The friends a customer invited: how many joined, how many of them bought."""

    joined: int
    bought: int


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Customers:
    def __init__(self, session: AsyncSession, book: DayBook) -> None:
        self.session, self.book = session, book

    async def get(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def by_verified_phone(self, phone: str, *, lock: bool = False) -> Customer | None:
        """With ``lock``: found and locked in one statement, as ``lock`` leaves it."""
        stmt = select(Customer).where(Customer.phone == phone,
                                      Customer.phone_verified == True)  # noqa: E712 (the partial index)
        return await (self._lock_found(_locking(stmt)) if lock else self._found(stmt))

    async def with_phone(self, phone: str, limit: int) -> Sequence[Customer]:
        """The customers with this phone, typed or verified: the verified one first, then
        the typed ones as they joined."""
        stmt = (select(Customer).where(Customer.phone == phone)
                .order_by(Customer.phone_verified.desc(), Customer.id).limit(limit))
        return (await self.session.execute(stmt)).scalars().all()

    async def by_card_number(self, card_number: str, *, lock: bool = False) -> Customer | None:
        """With ``lock``: found and locked in one statement, as ``lock`` leaves it."""
        found = {"card_number": card_number}
        return await (self._lock_found(_BY_CARD_LOCKING, found) if lock
                      else self._found(_BY_CARD, found))

    async def _found(self, stmt: Select[Customer], params: dict[str, Any] | None = None
                     ) -> Customer | None:
        return (await self.session.execute(stmt, params)).scalar_one_or_none()

    async def named_like(self, typed: str, limit: int) -> Sequence[Customer]:
        """The customers whose name contains ``typed``, case-insensitive, by name."""
        # ILIKE is case-insensitive for any letters on PostgreSQL; SQLite folds only ASCII, so
        # the usual spellings of a Cyrillic name are tried as well (иван, Иван, ИВАН).
        variants = {typed, typed.lower(), typed.upper(), typed.capitalize(), typed.title()}
        stmt = (select(Customer)
                .where(or_(*(Customer.name.ilike(_like(v), escape="\\") for v in variants)))
                .order_by(func.lower(Customer.name), Customer.id).limit(limit))
        return (await self.session.execute(stmt)).scalars().all()

    async def by_referral_code(self, code: str) -> Customer | None:
        stmt = select(Customer).where(Customer.referral_code == code)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def friends_of(self, customer_id: int) -> Friends:
        """How many friends joined by this customer's link, and how many of them bought."""
        stmt = select(func.count(Customer.id), func.count(Customer.referral_rewarded_at)).where(
            Customer.referred_by == customer_id)
        joined, bought = (await self.session.execute(stmt)).one()
        return Friends(joined, bought)

    async def add(self, customer: Customer, new_card_number: Callable[[], str]) -> Customer:
        """Insert with a card number no other customer has."""
        while True:
            candidate = new_card_number()
            if await self.by_card_number(candidate) is None:
                customer.card_number = candidate
                break
        self.session.add(customer)
        await self.session.flush()
        return customer

    async def lock(self, customer_id: int) -> Customer | None:
        """Serialize points changes of one customer (row lock on PostgreSQL; SQLite
        transactions are already serialized by BEGIN IMMEDIATE) and return the customer as
        it is now: what this session read before waiting for the lock may be stale. Once
        held, the lock lasts the transaction: locking again costs nothing."""
        if customer_id in row_locks(self.session):
            return await self.session.get(Customer, customer_id)
        customer = await self._lock_found(_BY_ID_LOCKING, {"customer_id": customer_id})
        row_locks(self.session).add(customer_id)
        return customer

    async def hold(self, customer_id: int) -> None:
        """``lock`` without the customer: no statement when the lock is held already."""
        if customer_id not in row_locks(self.session):
            await self.lock(customer_id)

    async def _lock_found(self, locking: Select[Customer], params: dict[str, Any] | None = None
                          ) -> Customer | None:
        """The customer ``locking`` (a ``_locking`` statement) finds, row-locked and read
        again after the lock."""
        await self.session.flush()  # our own pending changes survive the re-read
        customer = (await self.session.execute(locking, params)).scalar_one_or_none()
        if customer is not None:
            row_locks(self.session).add(customer.id)
        return customer

    async def erase(self, customer_id: int, phone_hash: str | None, now: datetime) -> None:
        """Delete a person for good: the customer, their points and history (by foreign-key
        cascades) and their identities in every channel, except an identity that holds a
        staff role, which stays, anonymous, so the shop keeps its cashier or admin. Their
        objects leave the session. Their receipts stay in the shop's revenue."""
        await self.lock(customer_id)  # the day book reads them as they are until the commit
        await self.book.erasing(customer_id)
        await WalletPasses(self.session).queue_erasure(customer_id, now)
        staff = select(Staff.identity_id)
        await self.session.execute(
            delete(Identity).where(Identity.customer_id == customer_id, Identity.id.not_in(staff)))
        await self.session.execute(
            update(Identity).where(Identity.customer_id == customer_id)
            .values(customer_id=None, consent_at=None, source=None))
        if phone_hash is not None:
            await self.session.execute(insert_ignoring_duplicates(self.session, ErasedPhone)
                                       .values(phone_hash=phone_hash, erased_at=now))
        await self.session.execute(delete(SharedPhone).where(
            SharedPhone.typed_customer_id == customer_id, SharedPhone.status != "merged"))
        await self.session.execute(delete(Customer).where(Customer.id == customer_id)
                                   .execution_options(day_book=COUNTED))  # told above
        self.session.expunge_all()

    async def count_purchase(self, customer: Customer, amount: int) -> None:
        """One more purchase of ``amount`` on the customer's card (they are locked): a
        plain update built once, since every purchase runs it; the loaded row shows it too.
        What the session still holds for the row (a refund's recount) is written first:
        the loaded row's values then are the stored ones."""
        await self.session.flush()
        await plain(self.session, _COUNT_PURCHASE, {"customer_id": customer.id, "amount": amount})
        set_committed_value(customer, "purchase_count", customer.purchase_count + 1)
        set_committed_value(customer, "total_spent", customer.total_spent + amount)

    async def register(self, customer_id: int, now: datetime) -> None:
        """The customer finished signing up: a member from now on."""
        customer = await self.lock(customer_id)  # a purchase at a till meanwhile waits for the commit
        if customer is None:
            raise LookupError(f"customer {customer_id} is gone")
        customer.registered_at = now

    async def was_erased(self, phone_hash: str) -> bool:
        return await self.session.get(ErasedPhone, phone_hash) is not None

    async def welcomed_elsewhere(self, customer: Customer) -> bool:
        """Another card with this customer's phone (typed or verified) got a welcome bonus:
        the cards that joined before ``welcomed_phones`` was kept (0021) count too."""
        stmt = select(exists().where(
            Customer.phone == customer.phone, Customer.id != customer.id,
            PointOperation.customer_id == Customer.id, PointOperation.reason == "welcome"))
        return bool(await self.session.scalar(stmt))

    async def claim_welcome(self, phone_hash: str, now: datetime) -> bool:
        """Record that this phone number gets its welcome bonus now; False when it already
        had one (two sign-ups with one number at once: the second waits and gets False)."""
        stmt = insert_ignoring_duplicates(self.session, WelcomedPhone).values(phone_hash=phone_hash,
                                                                             welcomed_at=now)
        result = cast("CursorResult[Any]", await self.session.execute(stmt))  # an INSERT's result
        return result.rowcount == 1

    async def merge(self, survivor_id: int, merged_id: int) -> None:
        """Move everything of ``merged_id`` to ``survivor_id`` and delete it: its identities
        in every channel, its points (lots keep their expiry, operations their day), its
        purchases with their refunds and reviews, its trigger and broadcast records (one per
        episode: where both have one, the survivor's stays), the audit entries about it and
        the friends it invited. The caller holds both locks and settles the survivor's own
        columns; the day book is told before anything moves."""
        await self.book.merging(survivor_id, merged_id)
        counted = {"day_book": COUNTED}  # told above: the book recounts both customers
        for model in (PointOperation, PointLot, Purchase):
            await self.session.execute(update(model).where(model.customer_id == merged_id)
                                       .values(customer_id=survivor_id).execution_options(**counted))
        await self._drop_duplicates(TriggerSend, survivor_id, merged_id,
                                    TriggerSend.trigger, TriggerSend.episode)
        await self._drop_duplicates(BroadcastRecipient, survivor_id, merged_id,
                                    BroadcastRecipient.broadcast_id)
        for owned in (Identity, Review, TriggerSend, BroadcastRecipient, AuditEntry):
            await self.session.execute(update(owned).where(owned.customer_id == merged_id)
                                       .values(customer_id=survivor_id))
        await self.session.execute(
            update(Customer).where(Customer.referred_by == merged_id, Customer.id != survivor_id)
            .values(referred_by=survivor_id))
        merged = await self.session.get(Customer, merged_id)
        await self.session.execute(delete(Customer).where(Customer.id == merged_id)
                                   .execution_options(**counted))
        if merged is not None and merged in self.session:
            self.session.expunge(merged)

    async def _drop_duplicates(self, model: type[_Twinned], survivor_id: int, merged_id: int,
                               *same: InstrumentedAttribute[Any]) -> None:
        """Delete the merged customer's rows of ``model`` the survivor has a twin of."""
        twin = aliased(model)
        await self.session.execute(delete(model).where(
            model.customer_id == merged_id,
            exists().where(twin.customer_id == survivor_id,
                           *(getattr(twin, column.key) == column for column in same))))

    async def rejoin(self, customer_id: int, joined: datetime) -> None:
        """Set when a member joined to an earlier moment (a merge keeps the earlier of the
        two cards'); the caller has told the day book (``DayBook.merging``)."""
        await self.session.execute(update(Customer).where(Customer.id == customer_id)
                                   .values(registered_at=joined)
                                   .execution_options(day_book=COUNTED))

    async def count(self) -> int:
        """Every customer stored, member or not."""
        return int(await self.session.scalar(select(func.count()).select_from(Customer)) or 0)

    async def id_range(self) -> tuple[int | None, int | None]:
        """The smallest and the largest customer id (None, None: no customers)."""
        first, last = (await self.session.execute(select(func.min(Customer.id),
                                                         func.max(Customer.id)))).one()
        return first, last

    # --- what a customer changes on their own card from the chat ----------------------------
    # Each reads the row from the session (loaded with the event's identity: no SQL) and sets
    # columns; the flush writes them with the rest of the event's changes.

    async def open_card(self, new_card_number: Callable[[], str], *, phone: str, verified: bool,
                        consent_at: datetime, source: str | None, locale: str | None,
                        now: datetime) -> int:
        """A new card for someone joining in the chat, with their phone; its id."""
        customer = Customer(phone=phone, phone_verified=verified, consent_at=consent_at,
                            source=source, locale=locale, created_at=now)
        return (await self.add(customer, new_card_number)).id

    async def set_name(self, customer_id: int, name: str) -> None:
        (await self.session.get_one(Customer, customer_id)).name = name

    async def set_birthday(self, customer_id: int, day: int, month: int, year: int | None) -> None:
        customer = await self.session.get_one(Customer, customer_id)
        customer.birth_day, customer.birth_month, customer.birth_year = day, month, year

    async def verify_phone(self, customer_id: int, phone: str) -> None:
        """The customer proved ``phone`` is theirs (unique among verified phones: a race
        fails at the flush)."""
        customer = await self.session.get_one(Customer, customer_id)
        customer.phone, customer.phone_verified = phone, True

    async def set_email(self, customer_id: int, email: str) -> None:
        (await self.session.get_one(Customer, customer_id)).email = email

    async def set_heard_from(self, customer_id: int, answer: str) -> None:
        (await self.session.get_one(Customer, customer_id)).heard_from = answer

    async def complete_profile(self, customer_id: int, at: datetime) -> None:
        (await self.session.get_one(Customer, customer_id)).profile_completed_at = at

    async def set_topic(self, customer_id: int, switch: str, on: bool) -> None:
        """Switch a category of messages on or off (``switch``: a ``notify_*`` column)."""
        if switch not in NOTIFICATION_SWITCHES:
            raise ValueError(f"not a notification switch: {switch}")
        setattr(await self.session.get_one(Customer, customer_id), switch, on)

    async def set_preferred_channel(self, customer_id: int, channel: str | None) -> None:
        """The messenger the program's messages go to; None: the one used last."""
        (await self.session.get_one(Customer, customer_id)).preferred_channel = channel

    async def set_referral_code(self, customer_id: int, code: str) -> None:
        (await self.session.get_one(Customer, customer_id)).referral_code = code

    async def set_referrer(self, customer_id: int, referrer_id: int) -> None:
        """The friend whose link brought this customer (paid after the first purchase)."""
        (await self.session.get_one(Customer, customer_id)).referred_by = referrer_id

    # --- what an admin changes on a customer's card ------------------------------------------

    async def set_blocked(self, customer_id: int, at: datetime | None) -> None:
        """Block the card from ``at`` (it neither earns nor spends), or unblock it (None)."""
        (await self.session.get_one(Customer, customer_id)).blocked_at = at


NOTIFICATION_SWITCHES = ("notify_promotions", "notify_reminders", "notify_digest")


def _locking(stmt: Select[Customer]) -> Select[Customer]:
    """``stmt`` row-locking what it finds, and reading it again after the lock."""
    return stmt.with_for_update().execution_options(populate_existing=True)


# Built once: every purchase finds its customer by card, and locks them, with these.
_BY_CARD = select(Customer).where(Customer.card_number == bindparam("card_number"))
_BY_CARD_LOCKING = _locking(_BY_CARD)
_BY_ID_LOCKING = _locking(select(Customer).where(Customer.id == bindparam("customer_id")))
_COUNT_PURCHASE = (update(Customer).where(Customer.id == bindparam("customer_id"))
                   .values(purchase_count=Customer.purchase_count + 1,
                           total_spent=Customer.total_spent + bindparam("amount")))
