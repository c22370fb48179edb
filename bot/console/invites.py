"""One-time staff invite links: the token travels in the link, only its hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from bot.storage.models import StaffInvite
from bot.storage.uow import UnitOfWork

INVITE_PREFIX = "staff-"
ROLES = ("admin", "cashier")
INVITE_LIFETIME = timedelta(hours=24)
STARTED_TOGETHER = timedelta(minutes=5)  # the admin links printed by processes started at once


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invite(uow: UnitOfWork, role: str, created_by: int | None, now: datetime,
                        outlet_id: int | None = None, lifetime: timedelta = INVITE_LIFETIME) -> str:
    """A new one-time invite, valid for ``lifetime``; returns the /start payload."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    token = secrets.token_urlsafe(24)
    uow.staff.add_invite(StaffInvite(token_hash=hash_token(token), role=role, outlet_id=outlet_id,
                                     created_by=created_by, created_at=now,
                                     expires_at=now + lifetime))
    return INVITE_PREFIX + token
