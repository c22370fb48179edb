"""Outlets and their POS API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Outlet, PosKey


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
        return (await self.session.execute(_LIVE_KEY, {"key_hash": key_hash})).scalar_one_or_none()

    async def key(self, key_id: int) -> PosKey | None:
        """A key by its id, revoked or not."""
        return await self.session.get(PosKey, key_id)

    async def live_keys(self, outlet_id: int | None = None) -> Sequence[PosKey]:
        """The keys not revoked (of one outlet, if given), by outlet, oldest first."""
        stmt = select(PosKey).where(PosKey.revoked_at.is_(None)).order_by(PosKey.outlet_id, PosKey.id)
        if outlet_id is not None:
            stmt = stmt.where(PosKey.outlet_id == outlet_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def keys_with_outlet_names(self) -> list[tuple[PosKey, str]]:
        """Every key, revoked or not, oldest first, with its outlet's name."""
        stmt = select(PosKey, Outlet.name).join(Outlet, Outlet.id == PosKey.outlet_id).order_by(PosKey.id)
        return [(key, name) for key, name in (await self.session.execute(stmt)).all()]

    async def revoke_key(self, key_id: int, at: datetime) -> None:
        """The POS API refuses the key from ``at`` on."""
        key = await self.session.get_one(PosKey, key_id)
        key.revoked_at = at


# Built once: every POS request checks its key with it.
_LIVE_KEY = select(PosKey).where(PosKey.key_hash == bindparam("key_hash"),
                                 PosKey.revoked_at.is_(None))
