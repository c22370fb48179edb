"""Staff roles and the invites that grant them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Staff, StaffInvite


class StaffMembers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, identity_id: int) -> Staff | None:
        return await self.session.get(Staff, identity_id)

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

    async def revoke_bootstrap_invites(self, made_before: datetime | None = None) -> None:
        """Forget the unused admin links printed at start (made by nobody), or those of them
        made before ``made_before``."""
        stmt = delete(StaffInvite).where(StaffInvite.role == "admin", StaffInvite.created_by.is_(None),
                                         StaffInvite.used_at.is_(None))
        if made_before is not None:
            stmt = stmt.where(StaffInvite.created_at < made_before)
        await self.session.execute(stmt)

    async def set_blocked(self, identity_id: int, at: datetime | None) -> None:
        """Pause a cashier's access to the checkout from ``at``, or give it back (None)."""
        staff = await self.session.get_one(Staff, identity_id)
        staff.blocked_at = at
