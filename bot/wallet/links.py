"""The «Add to Apple Wallet» / «Add to Google Wallet» links of the Card screen.

A link opens this app's download page (downloads.py) with a signed token: the customer, the
messenger the card was opened in (the wallet barcode opens the bot there), the language the
card is written in, and when the link stops working (``wallet.link_hours``). A forged or
old link gets a polite page, never someone's card.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.keys import derive, same_secret

APPLE = "apple"
GOOGLE = "google"
_SIGNATURE_CHARS = 22


@dataclass(frozen=True, slots=True)
class PassRequest:
    """Who asked for the wallet card, from where, in which language."""

    customer_id: int
    channel: str
    locale: str


class WalletLinks:
    def __init__(self, secret: bytes, base_url: str, ttl: timedelta,
                 apple: bool, google: bool) -> None:
        self._key = derive(secret, "wallet-link")
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self.wallets = tuple(w for w, on in ((APPLE, apple), (GOOGLE, google)) if on)

    def url(self, wallet: str, request: PassRequest, now: datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        body = f"{request.customer_id}.{request.channel}.{request.locale}.{expires}"
        encoded = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{self.base_url}/wallet/{wallet}/{encoded}.{self._sign(encoded)}"

    def read(self, token: str, now: datetime) -> PassRequest | None:
        """The request a link's token carries; None when forged, malformed or expired."""
        encoded, _, signature = token.partition(".")
        if not encoded or not same_secret(signature, self._sign(encoded)):
            return None
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            customer, channel, locale, expires = body.split(".")
            request = PassRequest(int(customer), channel, locale)
            expired = datetime.fromtimestamp(int(expires), UTC) <= now
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return None if expired else request

    def _sign(self, encoded: str) -> str:
        digest = hmac.new(self._key, encoded.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]
