"""The wallet's HTTP routes on the app's web server: the download pages and Apple's pass
web service."""

from __future__ import annotations

from aiohttp import web

from bot.wallet import apple_service, downloads
from bot.wallet.setup import Wallet


def install(app: web.Application, wallet: Wallet) -> None:
    downloads.install(app, wallet)
    if wallet.apple is not None:
        apple_service.install(app, wallet)
