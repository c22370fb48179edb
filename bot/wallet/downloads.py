"""The pages the Card screen's links open: ``/wallet/apple/<link>`` answers the .pkpass
(Safari offers to add it to Apple Wallet), ``/wallet/google/<link>`` makes sure the
loyalty object exists at Google and redirects to Google's «save» page. The first request
makes the customer's wallet card (its serial, messenger and language). A forged or expired
link, or a customer who left, gets a short page that says what to do."""

from __future__ import annotations

import logging
import secrets

import httpx
from aiohttp import web

from bot.channels.base import RetryLater
from bot.core.i18n import N_, Translator
from bot.storage.models import WalletPass
from bot.storage.uow import UnitOfWork
from bot.wallet.apple_pass import MEDIA_TYPE
from bot.wallet.face import CardFace, read_face
from bot.wallet.google import GoogleWalletError
from bot.wallet.images import logo
from bot.wallet.links import APPLE, GOOGLE, PassRequest
from bot.wallet.setup import Wallet

log = logging.getLogger(__name__)

LOGO_PATH = "/wallet/logo.png"


def install(app: web.Application, wallet: Wallet) -> None:
    downloads = Downloads(wallet)
    if wallet.apple is not None:
        app.router.add_get("/wallet/apple/{link}", downloads.apple, allow_head=False)
    if wallet.google is not None:
        app.router.add_get("/wallet/google/{link}", downloads.google, allow_head=False)
    app.router.add_get(LOGO_PATH, downloads.logo)


def new_serial() -> str:
    return secrets.token_hex(16)


class Downloads:
    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet
        settings = wallet.services.settings.wallet
        self._logo = logo(settings.logo, settings.background_color)

    async def apple(self, request: web.Request) -> web.Response:
        assert self.wallet.apple is not None
        found = await self._card(request, APPLE)
        if isinstance(found, web.Response):
            return found
        _, face = found
        return web.Response(body=self.wallet.apple.build(face), content_type=MEDIA_TYPE,
                            headers={"Content-Disposition": 'attachment; filename="card.pkpass"',
                                     "Cache-Control": "no-store"})

    async def google(self, request: web.Request) -> web.Response:
        google = self.wallet.google
        assert google is not None
        found = await self._card(request, GOOGLE)
        if isinstance(found, web.Response):
            return found
        wallet_pass, face = found
        if not wallet_pass.google_saved:
            try:
                await google.create(face)
            except (GoogleWalletError, RetryLater, httpx.HTTPError):
                log.exception("Google Wallet: the loyalty object could not be made")
                return self._page(face.t, 503, N_(
                    "Google Wallet can't be reached right now. Please try again in a few minutes."))
            async with self.wallet.unit_of_work() as uow:
                await uow.wallet_passes.mark_google_saved(wallet_pass.id)
                await uow.commit()
        raise web.HTTPFound(google.save_link(face))

    async def logo(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._logo, content_type="image/png",
                            headers={"Cache-Control": "public, max-age=86400"})

    async def _card(self, request: web.Request, wallet: str
                    ) -> tuple[WalletPass, CardFace] | web.Response:
        """The customer's wallet card and its face, or the page that says why not."""
        services = self.wallet.services
        now = services.clock.now()
        asked = self.wallet.links.read(request.match_info["link"], now)
        if asked is None:
            return self._page(services.i18n.translator(services.i18n.default), 410, N_(
                "This link has expired. Open the card in the chat with the bot and tap the "
                "button again."))
        async with self.wallet.unit_of_work() as uow:
            face = None
            wallet_pass = await self._wallet_pass(uow, asked) if await self._member(uow, asked) else None
            if wallet_pass is not None:
                face = await read_face(uow, services, wallet_pass,
                                       self.wallet.deep_link(wallet_pass.channel))
            if wallet_pass is None or face is None:
                return self._page(services.i18n.translator(asked.locale), 404, N_(
                    "This card is no longer in the program."))
            await uow.commit()
        return wallet_pass, face

    @staticmethod
    async def _member(uow: UnitOfWork, asked: PassRequest) -> bool:
        customer = await uow.customers.get(asked.customer_id)
        return customer is not None and customer.registered_at is not None

    async def _wallet_pass(self, uow: UnitOfWork, asked: PassRequest) -> WalletPass:
        return await uow.wallet_passes.get_or_make(
            asked.customer_id, asked.channel, asked.locale, self.wallet.services.clock.now(),
            new_serial)

    @staticmethod
    def _page(t: Translator, status: int, msgid: str) -> web.Response:
        text = t.gettext(msgid)
        body = (f'<!doctype html><html lang="{t.locale}"><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{text}</title><p>{text}</p></html>")
        return web.Response(status=status, text=body, content_type="text/html")
