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


def signed_payload(secret: bytes, identity_id: int, payload: str) -> str:
    """A button payload only this person can send back (a staff member's "this customer"
    button: nobody can act on a customer the bot did not offer them)."""
    return f"{payload}:{_payload_signature(secret, identity_id, payload)}"


def verified_payload(secret: bytes, identity_id: int, signed: str) -> str | None:
    """The payload of ``signed_payload``, or None when it was not made for this person."""
    payload, _, signature = signed.rpartition(":")
    if not payload or not same_secret(signature, _payload_signature(secret, identity_id, payload)):
        return None
    return payload


def _payload_signature(secret: bytes, identity_id: int, payload: str) -> str:
    return keyed_hash(derive(secret, "button-payload"), f"{identity_id}:{payload}")[:12]


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def phone_fingerprint(secret: bytes, phone: str) -> str:
    """What is kept of a phone number (an erased customer's verified one, one the welcome
    bonus was paid to): it can be matched, not read."""
    return keyed_hash(derive(secret, "erased-phone"), phone)
