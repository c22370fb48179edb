"""Repositories: queries by name. They flush when they need ids, and never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased, joinedload

from bot.storage.day_book import DayBook
from bot.storage.models import (
    AppSecret,
    AuditEntry,
    Base,
    BroadcastRecipient,
    Conversation,
    Customer,
    ErasedPhone,
    Identity,
    Outlet,
    PointLot,
    PointOperation,
    PointSpend,
    PosKey,
    ProcessedEvent,
    Purchase,
    Refund,
    Review,
    SharedPhone,
    Staff,
    StaffInvite,
    TriggerSend,
    WelcomedPhone,
)
from bot.storage.session import COUNTED

# "Last seen" is kept to the minute: no write on every message just for it.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

_Twinned = TypeVar("_Twinned", TriggerSend, BroadcastRecipient)  # one row per customer and episode


def _insert_ignoring_duplicates(session: AsyncSession, table: type[Base]
                                ) -> postgresql.Insert | sqlite.Insert:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_nothing()


class ProcessedEvents:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, channel: str, event_id: str, now: datetime) -> bool:
        """Record the event as handled; False when it already was."""
        stmt = _insert_ignoring_duplicates(self.session, ProcessedEvent).values(
            channel=channel, event_id=event_id, processed_at=now
        )
        result = cast("CursorResult[Any]", await self.session.execute(stmt))  # an INSERT's result
        return result.rowcount == 1


# Built once: this runs for every inbound event.
_IDENTITY = (
    select(Identity)
    .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("external_id"))
    .options(joinedload(Identity.customer), joinedload(Identity.conversation),
             joinedload(Identity.staff))
    .with_for_update(of=Identity)
)


class Identities:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, channel: str, external_id: str, now: datetime) -> Identity:
        """The identity with its customer, conversation and staff role, created on first
        contact and locked for this transaction, so two events of one person are handled
        one after the other (on PostgreSQL; SQLite transactions are serialized anyway)."""
        key = {"channel": channel, "external_id": external_id}
        identity = (await self.session.execute(_IDENTITY, key)).unique().scalar_one_or_none()
        if identity is None:
            await self.session.execute(
                _insert_ignoring_duplicates(self.session, Identity).values(
                    **key, reachable=True, created_at=now, last_seen_at=now)
            )
            identity = (await self.session.execute(_IDENTITY, key)).unique().scalar_one()
        if now - identity.last_seen_at >= LAST_SEEN_RESOLUTION:
            identity.last_seen_at = now
        return identity

    async def lock_of(self, customer_ids: Sequence[int]) -> None:
        """Lock these customers' identities (in id order) before the customers, the order
        their own events take: a write over all of them waits for those events, or they for
        it, never both."""
        await self.session.execute(select(Identity.id).where(Identity.customer_id.in_(customer_ids))
                                   .order_by(Identity.id).with_for_update())


class Customers:
    def __init__(self, session: AsyncSession, book: DayBook) -> None:
        self.session, self.book = session, book
        self._locked: set[int] = set()

    async def get(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def by_verified_phone(self, phone: str) -> Customer | None:
        stmt = select(Customer).where(Customer.phone == phone,
                                      Customer.phone_verified == True)  # noqa: E712 (the partial index)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def with_phone(self, phone: str, limit: int) -> Sequence[Customer]:
        """The customers with this phone, typed or verified: the verified one first, then
        the typed ones as they joined."""
        stmt = (select(Customer).where(Customer.phone == phone)
                .order_by(Customer.phone_verified.desc(), Customer.id).limit(limit))
        return (await self.session.execute(stmt)).scalars().all()

    async def by_card_number(self, card_number: str) -> Customer | None:
        stmt = select(Customer).where(Customer.card_number == card_number)
        return (await self.session.execute(stmt)).scalar_one_or_none()

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

    def release_locks(self) -> None:
        self._locked.clear()

    async def lock(self, customer_id: int) -> Customer | None:
        """Serialize points changes of one customer (row lock on PostgreSQL; SQLite
        transactions are already serialized by BEGIN IMMEDIATE) and return the customer as
        it is now: what this session read before waiting for the lock may be stale. Once
        held, the lock lasts the transaction: locking again costs nothing."""
        if customer_id in self._locked:
            return await self.session.get(Customer, customer_id)
        await self.session.flush()  # our own pending changes survive the re-read
        stmt = (select(Customer).where(Customer.id == customer_id).with_for_update()
                .execution_options(populate_existing=True))
        customer = (await self.session.execute(stmt)).scalar_one_or_none()
        self._locked.add(customer_id)
        return customer

    async def erase(self, customer_id: int, phone_hash: str | None, now: datetime) -> None:
        """Delete a person for good: the customer, their points and history (by foreign-key
        cascades) and their identities in every channel, except an identity that holds a
        staff role, which stays, anonymous, so the shop keeps its cashier or admin. Their
        objects leave the session. Their receipts stay in the shop's revenue."""
        await self.lock(customer_id)  # the day book reads them as they are until the commit
        await self.book.erasing(customer_id)
        staff = select(Staff.identity_id)
        await self.session.execute(
            delete(Identity).where(Identity.customer_id == customer_id, Identity.id.not_in(staff)))
        await self.session.execute(
            update(Identity).where(Identity.customer_id == customer_id)
            .values(customer_id=None, consent_at=None, source=None))
        if phone_hash is not None:
            await self.session.execute(_insert_ignoring_duplicates(self.session, ErasedPhone)
                                       .values(phone_hash=phone_hash, erased_at=now))
        await self.session.execute(delete(SharedPhone).where(
            SharedPhone.typed_customer_id == customer_id, SharedPhone.status != "merged"))
        await self.session.execute(delete(Customer).where(Customer.id == customer_id)
                                   .execution_options(day_book=COUNTED))  # told above
        self.session.expunge_all()

    async def register(self, customer: Customer, now: datetime) -> None:
        """The customer finished signing up: a member from now on."""
        await self.lock(customer.id)  # a purchase at a till meanwhile waits for the commit
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
        stmt = _insert_ignoring_duplicates(self.session, WelcomedPhone).values(phone_hash=phone_hash,
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


class SharedPhones:
    """Pairs of cards with one phone, verified on one, typed on the other."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ask(self, verified: Customer, typed: Customer, now: datetime) -> SharedPhone | None:
        """Record the pair as put to the admins; None when it already was."""
        stmt = (_insert_ignoring_duplicates(self.session, SharedPhone)
                .values(verified_customer_id=verified.id, typed_customer_id=typed.id,
                        typed_card_number=typed.card_number, status="open", created_at=now)
                .returning(SharedPhone.id))
        pair_id = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if pair_id is None else await self.session.get(SharedPhone, pair_id)

    async def lock(self, pair_id: int) -> SharedPhone | None:
        """The pair, row-locked and re-read (two admins tapping at once decide once)."""
        await self.session.flush()
        stmt = (select(SharedPhone).where(SharedPhone.id == pair_id).with_for_update()
                .execution_options(populate_existing=True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def merged(self, *, customer_id: int | None = None,
                     card_number: str | None = None) -> SharedPhone | None:
        """The merge that deleted this card (by its old id or number), if one did."""
        stmt = select(SharedPhone).where(SharedPhone.status == "merged")
        if customer_id is not None:
            stmt = stmt.where(SharedPhone.typed_customer_id == customer_id)
        if card_number is not None:
            stmt = stmt.where(SharedPhone.typed_card_number == card_number)
        return (await self.session.execute(stmt.limit(1))).scalar_one_or_none()


class Conversations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def save(self, identity: Identity, state: str | None, data: dict, now: datetime) -> None:
        if identity.conversation is None:
            identity.conversation = Conversation(
                identity_id=identity.id, state=state, data=data, updated_at=now)
        else:
            conversation = identity.conversation
            conversation.state, conversation.data, conversation.updated_at = state, data, now


class Lots:
    """The points ledger's rows: lots and the operations that change them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_operation(self, operation: PointOperation) -> PointOperation:
        self.session.add(operation)
        await self.session.flush()
        return operation

    def add_lot(self, lot: PointLot) -> None:
        self.session.add(lot)

    def add_spend(self, operation_id: int, lot_id: int, amount: int) -> None:
        self.session.add(PointSpend(operation_id=operation_id, lot_id=lot_id, amount=amount))

    @staticmethod
    def _live(customer_id: int, now: datetime, spendable_only: bool) -> list[ColumnElement[bool]]:
        """Conditions of unexpired lots with points left (and, if asked, spendable now)."""
        conditions = [PointLot.customer_id == customer_id, PointLot.remaining > 0,
                      PointLot.expires_at > now]
        if spendable_only:
            conditions.append(PointLot.available_at <= now)
        return conditions

    async def live_lots(self, customer_id: int, now: datetime, *, spendable_only: bool = False
                        ) -> Sequence[PointLot]:
        """Unexpired lots with points left, those that expire first first."""
        stmt = (select(PointLot).where(*self._live(customer_id, now, spendable_only))
                .order_by(PointLot.expires_at, PointLot.id)
                .execution_options(populate_existing=True))  # fresh after the customer lock
        return (await self.session.execute(stmt)).scalars().all()

    async def available_balance(self, customer_id: int, now: datetime) -> int:
        stmt = select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            *self._live(customer_id, now, spendable_only=True))
        return int((await self.session.execute(stmt)).scalar_one())

    async def available_balances(self, customer_ids: Sequence[int], now: datetime,
                                 chunk: int = 5000) -> dict[int, int]:
        """``available_balance`` of many customers at once (those with none are left out)."""
        found: dict[int, int] = {}
        for start in range(0, len(customer_ids), chunk):
            stmt = (select(PointLot.customer_id, func.sum(PointLot.remaining))
                    .where(PointLot.customer_id.in_(customer_ids[start:start + chunk]),
                           PointLot.remaining > 0, PointLot.expires_at > now,
                           PointLot.available_at <= now)
                    .group_by(PointLot.customer_id))
            found.update((customer_id, int(points))
                         for customer_id, points in (await self.session.execute(stmt)).all())
        return found

    async def count_operations(self, customer_id: int, reason: str, since: datetime,
                               reference_prefix: str | None = None) -> int:
        stmt = select(func.count(PointOperation.id)).where(
            PointOperation.customer_id == customer_id, PointOperation.reason == reason,
            PointOperation.created_at >= since)
        if reference_prefix is not None:
            stmt = stmt.where(PointOperation.reference.startswith(reference_prefix, autoescape=True))
        return (await self.session.execute(stmt)).scalar_one()

    async def cashback_lot_ids(self, purchase_id: int) -> set[int]:
        """The lots of a purchase's cashback (not its refund returns or referral bonus)."""
        stmt = (select(PointLot.id).join(PointOperation, PointLot.operation_id == PointOperation.id)
                .where(PointOperation.purchase_id == purchase_id, PointOperation.kind == "earn",
                       PointOperation.reason == "purchase"))
        return set((await self.session.execute(stmt)).scalars())

    async def referral_paid(self, purchase_id: int) -> int | None:
        """The referral bonus this purchase paid its customer (None: it paid none)."""
        stmt = select(PointOperation.amount).where(
            PointOperation.purchase_id == purchase_id, PointOperation.reason == "referral",
            PointOperation.amount > 0)
        return (await self.session.execute(stmt)).scalars().first()

    async def referral_given(self, customer_id: int, reference: str) -> int | None:
        """The referral bonus given to ``customer_id`` under ``reference`` (for a friend)."""
        stmt = select(PointOperation.amount).where(
            PointOperation.customer_id == customer_id, PointOperation.reason == "referral",
            PointOperation.reference == reference, PointOperation.amount > 0)
        return (await self.session.execute(stmt)).scalars().first()

    async def latest_expiry_spent_by(self, purchase_id: int) -> datetime | None:
        """The latest expiry among the lots a purchase's spending took points from."""
        stmt = (select(func.max(PointLot.expires_at))
                .join(PointSpend, PointSpend.lot_id == PointLot.id)
                .join(PointOperation, PointSpend.operation_id == PointOperation.id)
                .where(PointOperation.purchase_id == purchase_id, PointOperation.kind == "spend",
                       PointOperation.reason == "purchase"))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def customers_with_due_lots(self, now: datetime, limit: int) -> Sequence[int]:
        stmt = (select(PointLot.customer_id).where(PointLot.remaining > 0, PointLot.expires_at <= now)
                .distinct().order_by(PointLot.customer_id).limit(limit))
        return (await self.session.execute(stmt)).scalars().all()

    async def due_lots_of(self, customer_id: int, now: datetime) -> Sequence[PointLot]:
        stmt = (select(PointLot).where(PointLot.customer_id == customer_id, PointLot.remaining > 0,
                                       PointLot.expires_at <= now)
                .execution_options(populate_existing=True))
        return (await self.session.execute(stmt)).scalars().all()

    async def recent_operations(self, customer_id: int, limit: int) -> Sequence[PointOperation]:
        stmt = (
            select(PointOperation)
            .where(PointOperation.customer_id == customer_id)
            .order_by(PointOperation.created_at.desc(), PointOperation.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()


class Purchases:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_receipt(self, outlet_id: int, receipt_id: str, *, lock: bool = False) -> Purchase | None:
        """The purchase; with ``lock``, row-locked and re-read (after waiting for the lock,
        what this session held may be stale)."""
        stmt = select(Purchase).where(Purchase.outlet_id == outlet_id,
                                      Purchase.receipt_id == receipt_id)
        if lock:
            await self.session.flush()
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, purchase_id: int) -> Purchase | None:
        return await self.session.get(Purchase, purchase_id)

    async def add(self, purchase: Purchase) -> Purchase:
        self.session.add(purchase)
        await self.session.flush()
        return purchase

    async def refund_by_key(self, purchase_id: int, refund_key: str) -> Refund | None:
        stmt = select(Refund).where(Refund.purchase_id == purchase_id, Refund.refund_key == refund_key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def refund(self, purchase: Purchase, refund: Refund) -> None:
        """Record a refund of (part of) a purchase: a purchase refunded in full no longer
        counts as one."""
        self.session.add(refund)
        purchase.refunded_amount += refund.amount

    async def count_of(self, customer_id: int) -> int:
        stmt = select(func.count(Purchase.id)).where(Purchase.customer_id == customer_id)
        return (await self.session.execute(stmt)).scalar_one()


class Outlets:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def default(self) -> Outlet:
        """The first outlet (the migration creates "Main")."""
        stmt = select(Outlet).order_by(Outlet.id).limit(1)
        return (await self.session.execute(stmt)).scalar_one()

    async def by_name(self, name: str) -> Outlet | None:
        return (await self.session.execute(select(Outlet).where(Outlet.name == name))).scalar_one_or_none()

    async def get(self, outlet_id: int) -> Outlet | None:
        return await self.session.get(Outlet, outlet_id)

    async def all(self) -> Sequence[Outlet]:
        return (await self.session.execute(select(Outlet).order_by(Outlet.id))).scalars().all()

    async def add(self, name: str, now: datetime) -> Outlet:
        outlet = Outlet(name=name, created_at=now)
        self.session.add(outlet)
        await self.session.flush()
        return outlet

    async def add_key(self, outlet_id: int, key_hash: str, label: str | None, now: datetime,
                      role: str = "till") -> PosKey:
        key = PosKey(outlet_id=outlet_id, key_hash=key_hash, label=label, role=role, created_at=now)
        self.session.add(key)
        await self.session.flush()
        return key

    async def by_key_hash(self, key_hash: str) -> PosKey | None:
        stmt = select(PosKey).where(PosKey.key_hash == key_hash, PosKey.revoked_at.is_(None))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def key(self, key_id: int) -> PosKey | None:
        """A key by its id, revoked or not."""
        return await self.session.get(PosKey, key_id)

    async def live_keys(self, outlet_id: int | None = None) -> Sequence[PosKey]:
        """The keys not revoked (of one outlet, if given), by outlet, oldest first."""
        stmt = select(PosKey).where(PosKey.revoked_at.is_(None)).order_by(PosKey.outlet_id, PosKey.id)
        if outlet_id is not None:
            stmt = stmt.where(PosKey.outlet_id == outlet_id)
        return (await self.session.execute(stmt)).scalars().all()


class StaffMembers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def has_admin(self) -> bool:
        stmt = select(Staff.identity_id).where(Staff.role == "admin").limit(1)
        return await self.session.scalar(stmt) is not None

    async def grant(self, identity_id: int, role: str, outlet_id: int | None,
                    invited_by: int | None, now: datetime) -> None:
        staff = await self.session.get(Staff, identity_id)
        if staff is None:
            self.session.add(Staff(identity_id=identity_id, role=role, outlet_id=outlet_id,
                                   invited_by=invited_by, created_at=now))
            return
        if staff.role != "admin":  # an invite never demotes an admin
            staff.role = role
        staff.outlet_id = outlet_id or staff.outlet_id

    def add_invite(self, invite: StaffInvite) -> None:
        self.session.add(invite)

    async def use_invite(self, token_hash: str, identity_id: int, now: datetime) -> StaffInvite | None:
        """Mark an unused, unexpired invite as used by this identity; None if there is none."""
        invite = await self.session.get(StaffInvite, token_hash, with_for_update=True)
        if invite is None or invite.used_at is not None or (
                invite.expires_at is not None and invite.expires_at <= now):
            return None
        invite.used_by, invite.used_at = identity_id, now
        await self.session.flush()
        return invite

    async def revoke_bootstrap_invites(self) -> None:
        """Forget the unused admin links printed at start (made by nobody)."""
        await self.session.execute(delete(StaffInvite).where(
            StaffInvite.role == "admin", StaffInvite.created_by.is_(None),
            StaffInvite.used_at.is_(None)))


class Secrets:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(self, name: str, generate: Callable[[], str]) -> str:
        await self.session.execute(
            _insert_ignoring_duplicates(self.session, AppSecret).values(name=name, value=generate())
        )
        stored = select(AppSecret.value).where(AppSecret.name == name)
        return (await self.session.execute(stored)).scalar_one()
