"""One-time staff invite links: the token travels in the link, only its hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from bot.storage.uow import UnitOfWork

INVITE_PREFIX = "staff-"
ROLES = ("admin", "cashier")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invite(uow: UnitOfWork, role: str, created_by: int | None, now: datetime) -> str:
    """A new invite; returns the /start payload that redeems it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    token = secrets.token_urlsafe(24)
    await uow.staff.add_invite(hash_token(token), role, created_by, now)
    return INVITE_PREFIX + token
