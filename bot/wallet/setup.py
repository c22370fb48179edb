"""The wallet's parts, built from the config by the composition root: nothing of it exists
(no button, no route, no update) while neither ``[wallet.apple]`` nor ``[wallet.google]``
is configured."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Settings
from bot.wallet.links import WalletLinks


def configured(settings: Settings) -> bool:
    return settings.wallet.apple is not None or settings.wallet.google is not None


def wallet_links(settings: Settings, secret: bytes) -> WalletLinks | None:
    if not configured(settings):
        return None
    return WalletLinks(secret, settings.web.base_url(), timedelta(hours=settings.wallet.link_hours),
                       apple=settings.wallet.apple is not None,
                       google=settings.wallet.google is not None)
