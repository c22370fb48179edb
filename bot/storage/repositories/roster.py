"""The staff as an admin sees them: who, in which role and outlet, blocked or not."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Customer, Identity, Outlet, Staff


@dataclass(frozen=True, slots=True)
class StaffEntry:
    identity_id: int
    role: str
    channel: str
    external_id: str
    name: str | None  # from their customer profile, if they joined the program too
    outlet: str | None
    blocked: bool  # an admin paused them (bot/handlers/blocks.py)


class StaffLanguages(NamedTuple):
    """What decides the language of a staff member's command menu."""

    external_id: str
    role: str | None  # None: an admin by the config file only
    customer_locale: str | None
    identity_locale: str | None
    messenger_locale: str | None


_ENTRIES = (
    select(Staff.identity_id, Staff.role, Identity.channel, Identity.external_id, Customer.name,
           Outlet.name, Staff.blocked_at.is_not(None))
    .join(Identity, Identity.id == Staff.identity_id)
    .outerjoin(Customer, Customer.id == Identity.customer_id)
    .outerjoin(Outlet, Outlet.id == Staff.outlet_id)
)


class Roster:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def entries(self) -> list[StaffEntry]:
        rows = await self.session.execute(_ENTRIES.order_by(Staff.role, Staff.created_at, Staff.identity_id))
        return [StaffEntry(*row) for row in rows.all()]

    async def entry(self, identity_id: int) -> StaffEntry | None:
        row = (await self.session.execute(_ENTRIES.where(Staff.identity_id == identity_id))).first()
        return StaffEntry(*row) if row else None

    async def names(self, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The customer names of these (channel, external id) people, for those who joined the
        program (admins listed in the config file need not have written to the bot yet)."""
        if not refs:
            return {}
        rows = await self.session.execute(
            select(Identity.channel, Identity.external_id, Customer.name)
            .join(Customer, Customer.id == Identity.customer_id)
            .where(tuple_(Identity.channel, Identity.external_id).in_(refs)))
        return {(channel, external_id): name for channel, external_id, name in rows.all() if name}

    async def remove(self, identity_id: int) -> bool:
        staff = await self.session.get(Staff, identity_id)
        if staff is None:
            return False
        await self.session.delete(staff)
        await self.session.flush()
        return True

    async def languages_in(self, channel: str, also: Collection[str]) -> list[StaffLanguages]:
        """The staff in ``channel``, and the people with these external ids there (the admins
        the config file names), with their languages."""
        stmt = (select(Identity.external_id, Staff.role, Customer.locale, Identity.locale,
                       Identity.messenger_locale)
                .outerjoin(Staff, Staff.identity_id == Identity.id)
                .outerjoin(Customer, Customer.id == Identity.customer_id)
                .where(Identity.channel == channel,
                       or_(Staff.identity_id.is_not(None), Identity.external_id.in_(also))))
        return [StaffLanguages(*row) for row in (await self.session.execute(stmt)).all()]
