"""Who a message goes to: a customer's best identity (the messenger they chose in Settings,
else the one they used last), one identity, every admin, with what their language is
decided from. (Rendering and queueing: bot/delivery/notify.py.)"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Customer, Identity, Staff
from bot.storage.repositories._sql import IN_CHUNK

# a customer's identities, best first: the messenger they chose in Settings, then the latest used
CHOSEN_FIRST = (case((Identity.channel == Customer.preferred_channel, 0), else_=1),
                Identity.last_seen_at.desc())
# what a recipient's language is decided from (``I18n.for_person``)
LOCALES = (Customer.locale, Identity.locale, Identity.messenger_locale)
_Rows = Select[int, str, str, str | None, str | None, str | None]  # ``_recipient``'s arguments


@dataclass(frozen=True, slots=True)
class Recipient:
    identity_id: int
    channel: str
    external_id: str
    chosen_locale: str | None  # in Settings (the customer's, else this identity's)
    messenger_locale: str | None  # what their messenger reports


def _recipient(identity_id: int, channel: str, external_id: str, customer_locale: str | None,
               identity_locale: str | None, messenger_locale: str | None) -> Recipient:
    return Recipient(identity_id, channel, external_id, customer_locale or identity_locale,
                     messenger_locale)


class Recipients:
    """Reachable identities in the given channels only."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def best_of_customers(self, customer_ids: Sequence[int], channels: Collection[str]
                                ) -> dict[int, Recipient]:
        """Each customer's best identity (those with none are left out)."""
        found: dict[int, Recipient] = {}
        for start in range(0, len(customer_ids), IN_CHUNK):
            stmt = (select(Identity.customer_id, Identity.id, Identity.channel,
                           Identity.external_id, *LOCALES)
                    .join(Customer, Identity.customer_id == Customer.id)
                    .where(Identity.reachable.is_(True), Identity.channel.in_(channels),
                           Identity.customer_id.in_(customer_ids[start:start + IN_CHUNK]))
                    .order_by(Identity.customer_id, *CHOSEN_FIRST))
            for row in (await self.session.execute(stmt)).all():
                found.setdefault(row.customer_id, _recipient(*row[1:]))
        return found

    async def best_of_customer(self, customer_id: int, channels: Collection[str]
                               ) -> list[Recipient]:
        """The customer's best identity (none: an empty list)."""
        rows = await self.session.execute(_BEST_OF_CUSTOMER, {
            "customer_id": customer_id, "channels": list(channels)})
        return [_recipient(*row) for row in rows.all()]

    async def identity(self, identity_id: int, channels: Collection[str]) -> list[Recipient]:
        return await self._all(self._reachable(channels).where(Identity.id == identity_id))

    async def admins(self, channels: Collection[str], configured: Sequence[tuple[str, ...]]
                     ) -> list[Recipient]:
        """Every admin: a staff member with the role, or one the config file lists by
        (channel, external id)."""
        staff = select(Staff.identity_id).where(Staff.role == "admin")
        return await self._all(self._reachable(channels).where(
            Identity.id.in_(staff) | _any_of(configured)))

    @staticmethod
    def _reachable(channels: Collection[str]) -> _Rows:
        return (select(Identity.id, Identity.channel, Identity.external_id, *LOCALES)
                .outerjoin(Customer, Identity.customer_id == Customer.id)
                .where(Identity.reachable.is_(True), Identity.channel.in_(channels)))

    async def _all(self, stmt: _Rows) -> list[Recipient]:
        return [_recipient(*row) for row in (await self.session.execute(stmt)).all()]


def _any_of(pairs: Sequence[tuple[str, ...]]) -> ColumnElement[bool]:
    if not pairs:
        return false()
    return or_(*(and_(Identity.channel == c, Identity.external_id == e) for c, e in pairs))


# Built once: every purchase's notice looks its customer up with it.
_BEST_OF_CUSTOMER = (
    select(Identity.id, Identity.channel, Identity.external_id, *LOCALES)
    .outerjoin(Customer, Identity.customer_id == Customer.id)
    .where(Identity.reachable.is_(True),
           Identity.channel.in_(bindparam("channels", expanding=True)),
           Identity.customer_id == bindparam("customer_id"))
    .order_by(*CHOSEN_FIRST).limit(1))
