"""Keys derived from the installation secret, one per purpose, so no two uses share a key."""

from __future__ import annotations

import hashlib
import hmac

# Where the installation secret is kept when the config sets none (table app_secrets).
SECRET_NAME = "installation_secret"


def derive(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, purpose.encode(), hashlib.sha256).digest()


def same_secret(given: str | bytes | None, expected: str | bytes) -> bool:
    """A secret someone sent against the one expected, in constant time. Whatever bytes
    arrive (non-ASCII in a header, a cookie or a query, or nothing) are only unequal: a
    hostile value is a refusal, never an error."""
    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")

    if given is None:
        return False
    return hmac.compare_digest(raw(given), raw(expected))


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def phone_fingerprint(secret: bytes, phone: str) -> str:
    """What is kept of an erased customer's verified phone: it can be matched, not read."""
    return keyed_hash(derive(secret, "erased-phone"), phone)
