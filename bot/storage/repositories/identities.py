"""A person in one channel: found or created per event, with what hangs on it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from bot.storage.models import Customer, Identity, Staff
from bot.storage.repositories._sql import insert_ignoring_duplicates
from bot.storage.session import plain

# "Last seen" is kept to the minute: no write on every message just for it.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


# Built once: this runs for every inbound event.
_IDENTITY = (
    select(Identity)
    .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("external_id"))
    .options(joinedload(Identity.customer), joinedload(Identity.conversation),
             joinedload(Identity.staff))
    .with_for_update(of=Identity)
)
_SEEN = (update(Identity).where(Identity.id == bindparam("identity_id"))
         .values(last_seen_at=bindparam("seen"), messenger_locale=bindparam("messenger_locale")))


class Identities:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, channel: str, external_id: str, now: datetime,
                    messenger_locale: str | None = None) -> Identity:
        """The identity with its customer, conversation and staff role, created on first
        contact and locked for this transaction, so two events of one person are handled
        one after the other (on PostgreSQL; SQLite transactions are serialized anyway).
        Seen now (to the minute), with the language their messenger reports, if any."""
        key = {"channel": channel, "external_id": external_id}
        identity = (await self.session.execute(_IDENTITY, key)).unique().scalar_one_or_none()
        if identity is None:
            await self.session.execute(
                insert_ignoring_duplicates(self.session, Identity).values(
                    **key, reachable=True, created_at=now, last_seen_at=now)
            )
            identity = (await self.session.execute(_IDENTITY, key)).unique().scalar_one()
        await self._seen(identity, now, messenger_locale or identity.messenger_locale)
        return identity

    async def _seen(self, identity: Identity, now: datetime, messenger_locale: str | None) -> None:
        """Record when the person was last seen and their messenger's language, when either
        changed: one plain update built once (most events make it), the loaded row kept in
        step."""
        seen = now if now - identity.last_seen_at >= LAST_SEEN_RESOLUTION else identity.last_seen_at
        if seen == identity.last_seen_at and messenger_locale == identity.messenger_locale:
            return
        await plain(self.session, _SEEN, {"identity_id": identity.id, "seen": seen,
                                          "messenger_locale": messenger_locale})
        set_committed_value(identity, "last_seen_at", seen)
        set_committed_value(identity, "messenger_locale", messenger_locale)

    async def lock_of(self, customer_ids: Sequence[int]) -> None:
        """Lock these customers' identities (in id order) before the customers, the order
        their own events take: a write over all of them waits for those events, or they for
        it, never both."""
        await self.session.execute(select(Identity.id).where(Identity.customer_id.in_(customer_ids))
                                   .order_by(Identity.id).with_for_update())

    async def find(self, channel: str, external_id: str) -> Identity | None:
        """The identity with its customer and staff role, if the person ever wrote; not locked."""
        stmt = (select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
                .options(joinedload(Identity.customer), joinedload(Identity.staff)))
        return (await self.session.execute(stmt)).unique().scalar_one_or_none()

    async def id_of(self, channel: str, external_id: str) -> int | None:
        stmt = select(Identity.id).where(Identity.channel == channel,
                                         Identity.external_id == external_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def last_seen(self, channel: str, external_id: str) -> datetime | None:
        stmt = select(Identity.last_seen_at).where(Identity.channel == channel,
                                                   Identity.external_id == external_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def channels_of(self, customer_id: int) -> Sequence[str]:
        """Every channel the customer ever wrote from, by name."""
        stmt = (select(Identity.channel).where(Identity.customer_id == customer_id).distinct()
                .order_by(Identity.channel))
        return (await self.session.execute(stmt)).scalars().all()

    async def reachable_channels(self, customer_id: int, excluding: Collection[str]) -> list[str]:
        """The channels the customer can be written to now, by name, but those ``excluding``."""
        stmt = (select(Identity.channel).distinct()
                .where(Identity.customer_id == customer_id, Identity.reachable.is_(True),
                       Identity.channel.not_in(excluding))
                .order_by(Identity.channel))
        return list((await self.session.execute(stmt)).scalars())

    async def any_reachable(self, customer_id: int) -> bool:
        """The customer can be written to in some channel."""
        stmt = select(Identity.id).where(Identity.customer_id == customer_id,
                                         Identity.reachable.is_(True)).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def set_reachable(self, channel: str, external_id: str, reachable: bool) -> None:
        """Changes the row only when the flag really changes."""
        await self.session.execute(
            update(Identity).where(Identity.channel == channel, Identity.external_id == external_id,
                                   Identity.reachable.is_not(reachable))
            .values(reachable=reachable))

    async def forget_strangers(self, last_seen_before: datetime) -> None:
        """Delete the people who wrote, never agreed to join, and were last seen before
        ``last_seen_before`` (staff are kept)."""
        await self.session.execute(
            delete(Identity).where(Identity.customer_id.is_(None), Identity.consent_at.is_(None),
                                   Identity.last_seen_at < last_seen_before,
                                   Identity.id.not_in(select(Staff.identity_id))))

    async def get(self, identity_id: int) -> Identity | None:
        return await self.session.get(Identity, identity_id)

    async def mark_unreachable(self, identity_id: int) -> None:
        await self.session.execute(
            update(Identity).where(Identity.id == identity_id).values(reachable=False))

    def add(self, identity: Identity) -> None:
        """Add an identity made elsewhere (written at the next flush)."""
        self.session.add(identity)

    # --- what a person changes about themselves from the chat -------------------------------
    # Each reads the row from the session (claimed for the event: no SQL) and sets columns.

    async def set_language(self, identity_id: int, code: str) -> None:
        """The language the person picked, for this identity and its customer, if any."""
        identity = await self.session.get_one(Identity, identity_id)
        identity.locale = code
        if identity.customer is not None:
            identity.customer.locale = code

    async def give_consent(self, identity_id: int, at: datetime) -> None:
        (await self.session.get_one(Identity, identity_id)).consent_at = at

    async def set_source(self, identity_id: int, source: str) -> None:
        """How the person came: the first /start's payload."""
        (await self.session.get_one(Identity, identity_id)).source = source

    async def link_customer(self, identity_id: int, customer_id: int) -> None:
        """This identity is the customer's from now on (a new card, or a verified phone
        that already has one)."""
        identity = await self.session.get_one(Identity, identity_id)
        identity.customer = await self.session.get(Customer, customer_id)
