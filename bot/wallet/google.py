"""Google Wallet (placeholder until the Google step)."""

from __future__ import annotations

from datetime import datetime

from bot.config import GoogleWalletSettings, Settings
from bot.wallet.face import CardFace


class GoogleWallet:
    def __init__(self, settings: GoogleWalletSettings, shop: Settings) -> None:
        self.settings = settings

    async def create(self, face: CardFace) -> None:
        raise NotImplementedError

    async def update(self, face: CardFace) -> None:
        raise NotImplementedError

    def save_link(self, face: CardFace, now: datetime) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        pass
