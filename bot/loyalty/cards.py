"""The loyalty card: a stable number with a check digit, and a signed short-lived QR token.

The QR holds a deep link with ``card-<token>``. The token is the customer id and an
expiry, signed with HMAC-SHA256 under the installation's key, so a screenshot from last
week, a forged token or a token from another shop's installation is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import segno

from bot.core.lru import LruCache

CARD_DIGITS = 12  # 11 random digits and a Luhn check digit
TOKEN_PREFIX = "card-"
_SIGNATURE_BYTES = 18
_PACKED = struct.Struct(">QI")  # customer id, expiry (unix seconds)


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    body = str(secrets.randbelow(9 * 10 ** (CARD_DIGITS - 2)) + 10 ** (CARD_DIGITS - 2))
    return body + luhn_check_digit(body)


def normalize_card_number(text: str) -> str | None:
    """Digits of a typed card number if it is well formed and its check digit matches."""
    digits = "".join(ch for ch in text if not ch.isspace() and ch != "-")
    if len(digits) != CARD_DIGITS or not digits.isdecimal():
        return None
    return digits if luhn_check_digit(digits[:-1]) == digits[-1] else None


def format_card_number(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


@dataclass(frozen=True, slots=True)
class CardToken:
    customer_id: int
    expires_at: datetime


class InvalidToken(Exception):
    pass


class CardTokens:
    """Issues and verifies QR tokens. Tokens are issued per time slot (half the TTL), so
    one customer opening the card twice within a slot gets the same token (and the same
    cached image); a token never lives longer than the TTL, and at least half of it."""

    def __init__(self, key: bytes, ttl: timedelta) -> None:
        if len(key) < 16:
            raise ValueError("the card signing key must be at least 16 bytes")
        self._key = key
        self.ttl = ttl
        self._slot = max(60, int(ttl.total_seconds()) // 2)

    @property
    def guaranteed_minutes(self) -> int:
        """How long a just-issued token stays valid at the least."""
        return (int(self.ttl.total_seconds()) - self._slot) // 60

    def issue(self, customer_id: int, now: datetime) -> str:
        slot_start = int(now.timestamp()) // self._slot * self._slot
        expires = slot_start + int(self.ttl.total_seconds())  # so at least half the TTL ahead
        body = _PACKED.pack(customer_id, expires)
        return _b64(body + self._sign(body))

    def verify(self, token: str, now: datetime) -> CardToken:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidToken("malformed") from exc
        body, signature = raw[: _PACKED.size], raw[_PACKED.size :]
        if len(body) != _PACKED.size or not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidToken("bad signature")
        customer_id, expires = _PACKED.unpack(body)
        expires_at = datetime.fromtimestamp(expires, UTC)
        if expires_at <= now:
            raise InvalidToken("expired")
        return CardToken(customer_id, expires_at)

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class QrImages:
    """PNG rendering of deep links, cached (the same token renders once)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._cache: LruCache[str, bytes] = LruCache(capacity)

    def png(self, content: str) -> bytes:
        image = self._cache.get(content)
        if image is None:
            buffer = io.BytesIO()
            segno.make(content, error="m").save(buffer, kind="png", scale=8, border=4)
            image = buffer.getvalue()
            self._cache.put(content, image)
        return image
