"""The wallet's parts, built from the config by the composition root: nothing of it exists
(no button, no route, no update) while neither ``[wallet.apple]`` nor ``[wallet.google]``
is configured."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.context import Services
from bot.storage.repositories.wallet_passes import WALLET_CHANNEL
from bot.storage.uow import UnitOfWork
from bot.wallet.apple_pass import ApplePasses
from bot.wallet.apple_push import ApplePush
from bot.wallet.google import GoogleWallet
from bot.wallet.links import WalletLinks

if TYPE_CHECKING:
    from bot.channels.base import Channel


def configured(settings: Settings) -> bool:
    return settings.wallet.apple is not None or settings.wallet.google is not None


def wallet_links(settings: Settings, secret: bytes) -> WalletLinks | None:
    if not configured(settings):
        return None
    return WalletLinks(secret, settings.web.base_url(), timedelta(hours=settings.wallet.link_hours),
                       apple=settings.wallet.apple is not None,
                       google=settings.wallet.google is not None)


@dataclass
class Wallet:
    services: Services
    unit_of_work: Callable[[], UnitOfWork]
    channels: Mapping[str, Channel]  # the composition root's registry: deep links of the barcode
    links: WalletLinks
    apple: ApplePasses | None
    push: ApplePush | None
    google: GoogleWallet | None

    def deep_link(self, channel_name: str) -> Callable[[str], str] | None:
        """Links that open the bot in this messenger (else the first one there is)."""
        channel = self.channels.get(channel_name)
        if channel is None or channel.name == WALLET_CHANNEL:
            channel = next((c for name, c in self.channels.items() if name != WALLET_CHANNEL), None)
        return channel.info().deep_link if channel is not None else None

    async def close(self) -> None:
        if self.push is not None:
            await self.push.close()
        if self.google is not None:
            await self.google.close()


def build_wallet(services: Services, unit_of_work: Callable[[], UnitOfWork],
                 channels: Mapping[str, Channel]) -> Wallet | None:
    settings = services.settings
    if services.wallet_links is None:
        return None
    apple = settings.wallet.apple
    google = settings.wallet.google
    web_service = (apple.web_service_url if apple and apple.web_service_url
                   else settings.web.base_url() + "/wallet/apple")
    try:
        return Wallet(
            services=services, unit_of_work=unit_of_work, channels=channels,
            links=services.wallet_links,
            apple=ApplePasses(apple, settings.wallet, services.secret, web_service) if apple else None,
            push=ApplePush(apple) if apple else None,
            google=GoogleWallet(google, settings) if google else None)
    except (OSError, ValueError, KeyError) as error:  # a wrong path, file or password
        raise WalletConfigError(
            f"the [wallet] section's files can't be used ({type(error).__name__}: {error}); "
            "check wallet.apple's certificate, key and wwdr_certificate and "
            "wallet.google's service_account_key") from error


class WalletConfigError(RuntimeError):
    """The certificates or keys the wallet config names can't be read."""
