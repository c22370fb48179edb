"""The wallet card's barcode, and what a cashier's scan accepts.

A wallet pass can't refresh its barcode every few minutes as the chat's QR does, so its
token lives long: ``wallet.barcode_days`` (90 by default), signed under a key of its own
(``derive(secret, "wallet-barcode")``). It proves that this installation issued the card to
this customer within that time; it does not prove that the phone showing it is theirs (a
screenshot works until it expires, as a plastic card would). Every update of the pass
(a purchase, a gift, the renewal in updates.py) carries a fresh token.

The barcode holds a deep link with ``pass-<token>``; the chat's QR holds ``card-<token>``.
``CardScanner`` accepts both, and a bare token as the chat's (the POS API has always taken
it without the prefix).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.keys import derive
from bot.loyalty.cards import TOKEN_PREFIX, CardToken, CardTokens, InvalidToken

WALLET_PREFIX = "pass-"


def wallet_tokens(secret: bytes, days: int) -> CardTokens:
    """Tokens for wallet barcodes: a key of their own, a life of ``days``."""
    return CardTokens(derive(secret, "wallet-barcode"), timedelta(days=days))


@dataclass(frozen=True, slots=True)
class Scanned:
    """A card token that verified, and whether it came from a wallet card."""

    card: CardToken
    from_wallet: bool


class InvalidScan(InvalidToken):
    """A forged or expired token; ``from_wallet`` says which kind of card showed it."""

    def __init__(self, reason: str, from_wallet: bool) -> None:
        super().__init__(reason)
        self.from_wallet = from_wallet


class CardScanner:
    """Verifies what a cashier scanned: the chat's short-lived QR token or a wallet card's."""

    def __init__(self, chat: CardTokens, wallet: CardTokens) -> None:
        self.chat = chat
        self.wallet = wallet

    def verify(self, scanned: str, now: datetime) -> Scanned:
        if scanned.startswith(WALLET_PREFIX):
            return self._verify(self.wallet, scanned.removeprefix(WALLET_PREFIX), now, True)
        return self._verify(self.chat, scanned.removeprefix(TOKEN_PREFIX), now, False)

    @staticmethod
    def _verify(tokens: CardTokens, token: str, now: datetime, from_wallet: bool) -> Scanned:
        try:
            return Scanned(tokens.verify(token, now), from_wallet)
        except InvalidToken as error:
            raise InvalidScan(str(error), from_wallet) from None
