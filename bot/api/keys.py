"""POS API keys: random, shown once, stored only as SHA-256. A key belongs to one outlet,
so the key a till presents decides where its purchases were made. A till's key does the
checkout; an admin key (for the back office) may also read the reports."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

from bot.api.http import ApiError
from bot.core.text import row_id
from bot.storage.models import PosKey
from bot.storage.uow import UnitOfWork

KEY_BYTES = 32
ROLES = ("till", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def bearer_key(authorization: str | None) -> str:
    """The key from ``Authorization: Bearer <key>`` (checked against the database later).
    A key is URL-safe base64: anything else (a byte no UTF-8 reader can read comes as a lone
    surrogate, which no hash takes) is no key."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip() or not key.isascii():
        raise _unauthorized("send the outlet's API key as Authorization: Bearer <key>")
    return key.strip()


async def authenticate(uow: UnitOfWork, key: str, *, admin: bool = False) -> PosKey:
    pos_key = await uow.outlets.by_key_hash(hash_key(key))
    if pos_key is None:
        raise _unauthorized("unknown or revoked API key")
    if admin and pos_key.role != "admin":
        raise ApiError(403, "forbidden", "this needs an admin API key "
                                         "(loyalty-bot keys create --outlet NAME --admin)")
    return pos_key


async def create_key(uow: UnitOfWork, outlet_name: str, label: str | None,
                     now: datetime, role: str = "till") -> tuple[PosKey, str]:
    """A new key for the outlet named so (``loyalty-bot keys create``)."""
    outlet = await uow.outlets.by_name(outlet_name)
    if outlet is None:
        raise LookupError(f"no outlet named {outlet_name!r}")
    return await issue_key(uow, outlet.id, label, now, role)


async def issue_key(uow: UnitOfWork, outlet_id: int, label: str | None,
                    now: datetime, role: str = "till") -> tuple[PosKey, str]:
    """A new key for the outlet; the key itself is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"a key's role is one of {ROLES}")
    key = new_key()
    return await uow.outlets.add_key(outlet_id, hash_key(key), label, now, role), key


def new_key() -> str:
    """Random, and never starting with "-": a command line (``keys revoke KEY``) would take
    such a key for an option."""
    while (key := secrets.token_urlsafe(KEY_BYTES)).startswith("-"):
        pass
    return key


async def revoke_key(uow: UnitOfWork, reference: str, now: datetime) -> PosKey | None:
    """Revoke a key given by its id (as ``keys list`` shows) or by the whole key."""
    pos_key = await uow.outlets.by_key_hash(hash_key(reference))
    key_id = row_id(reference)
    if pos_key is None and key_id is not None:
        pos_key = await uow.outlets.key(key_id)
    if pos_key is not None and pos_key.revoked_at is None:
        pos_key.revoked_at = now
    return pos_key


async def all_keys(uow: UnitOfWork) -> Sequence[tuple[PosKey, str]]:
    return await uow.outlets.keys_with_outlet_names()
