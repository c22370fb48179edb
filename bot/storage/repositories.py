"""Repositories: queries by name. They flush when they need ids, and never commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot.storage.models import (
    AppSecret,
    Conversation,
    Customer,
    Identity,
    PointLot,
    PointOperation,
    PointSpend,
    ProcessedEvent,
    Staff,
    StaffInvite,
)


# "Last seen" is kept to the minute: no write on every message just for it.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def _insert_ignoring_duplicates(session: AsyncSession, table: type):  # type: ignore[no-untyped-def]
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
        result = await self.session.execute(stmt)
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

    async def of_customer(self, customer_id: int) -> Sequence[Identity]:
        stmt = select(Identity).where(Identity.customer_id == customer_id)
        return (await self.session.execute(stmt)).scalars().all()


class Customers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def by_verified_phone(self, phone: str) -> Customer | None:
        stmt = select(Customer).where(Customer.phone == phone, Customer.phone_verified.is_(True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

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

    async def lock(self, customer_id: int) -> None:
        """Serialize points changes of one customer (row lock on PostgreSQL; SQLite
        transactions are already serialized by BEGIN IMMEDIATE)."""
        await self.session.execute(
            select(Customer.id).where(Customer.id == customer_id).with_for_update()
        )

    async def erase(self, customer_id: int) -> None:
        """Delete a person for good: the customer, their identities in every channel, their
        points and history (by foreign-key cascades). Their objects leave the session."""
        await self.session.execute(delete(Identity).where(Identity.customer_id == customer_id))
        await self.session.execute(delete(Customer).where(Customer.id == customer_id))
        self.session.expunge_all()

    async def count(self) -> int:
        return (await self.session.execute(select(func.count(Customer.id)))).scalar_one()


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
    def _live(customer_id: int, now: datetime, spendable_only: bool) -> list:  # type: ignore[type-arg]
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
                .order_by(PointLot.expires_at, PointLot.id))
        return (await self.session.execute(stmt)).scalars().all()

    async def available_balance(self, customer_id: int, now: datetime) -> int:
        stmt = select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            *self._live(customer_id, now, spendable_only=True))
        return int((await self.session.execute(stmt)).scalar_one())

    async def due_to_expire(self, now: datetime, limit: int) -> Sequence[PointLot]:
        stmt = (
            select(PointLot)
            .where(PointLot.remaining > 0, PointLot.expires_at <= now)
            .order_by(PointLot.customer_id, PointLot.id)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def recent_operations(self, customer_id: int, limit: int) -> Sequence[PointOperation]:
        stmt = (
            select(PointOperation)
            .where(PointOperation.customer_id == customer_id)
            .order_by(PointOperation.created_at.desc(), PointOperation.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()


class StaffMembers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def has_admin(self) -> bool:
        return await self.session.scalar(select(Staff.identity_id).where(Staff.role == "admin").limit(1)) is not None

    async def grant(self, identity_id: int, role: str, invited_by: int | None, now: datetime) -> None:
        staff = await self.session.get(Staff, identity_id)
        if staff is None:
            self.session.add(
                Staff(identity_id=identity_id, role=role, invited_by=invited_by, created_at=now)
            )
        elif staff.role != "admin":  # an invite never demotes an admin
            staff.role = role

    async def add_invite(self, token_hash: str, role: str, created_by: int | None, now: datetime) -> None:
        self.session.add(
            StaffInvite(token_hash=token_hash, role=role, created_by=created_by, created_at=now)
        )

    async def use_invite(self, token_hash: str, identity_id: int, now: datetime) -> str | None:
        """Mark an unused invite as used by this identity; return its role, or None."""
        stmt = (
            update(StaffInvite)
            .where(StaffInvite.token_hash == token_hash, StaffInvite.used_at.is_(None))
            .values(used_by=identity_id, used_at=now)
            .returning(StaffInvite.role)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()


class Secrets:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_or_create(self, name: str, generate: Callable[[], str]) -> str:
        await self.session.execute(
            _insert_ignoring_duplicates(self.session, AppSecret).values(name=name, value=generate())
        )
        return (await self.session.execute(select(AppSecret.value).where(AppSecret.name == name))).scalar_one()
