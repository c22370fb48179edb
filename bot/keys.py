"""Keys derived from the installation secret, one per purpose, so no two uses share a key."""

from __future__ import annotations

import hashlib
import hmac

# Where the installation secret is kept when the config sets none (table app_secrets).
SECRET_NAME = "installation_secret"


def derive(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, purpose.encode(), hashlib.sha256).digest()


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def phone_fingerprint(secret: bytes, phone: str) -> str:
    """What is kept of an erased customer's verified phone: it can be matched, not read."""
    return keyed_hash(derive(secret, "erased-phone"), phone)
