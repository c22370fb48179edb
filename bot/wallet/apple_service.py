"""Apple's pass web service, under ``/wallet/apple/v1`` (Apple calls
``webServiceURL/v1/...``):

- ``POST /v1/devices/{device}/registrations/{passType}/{serial}`` with ``{"pushToken"}``:
  201 registered, 200 already registered;
- ``DELETE`` the same: 200 unregistered;
- ``GET /v1/devices/{device}/registrations/{passType}?passesUpdatedSince=<tag>``: 200
  ``{"serialNumbers", "lastUpdated"}``, 204 when none changed;
- ``GET /v1/passes/{passType}/{serial}``: 200 the latest .pkpass with Last-Modified, 304
  when not modified since If-Modified-Since;
- ``POST /v1/log``: Apple's complaints, logged.

The pass requests carry ``Authorization: ApplePass <authenticationToken>``: the pass's own
token (apple_pass.py); anything else, and an unknown pass type or serial, is 401.
The "updated since" tag is the pass's ``updated_at`` in microseconds.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web

from bot.core.keys import same_secret
from bot.storage.models import WalletPass
from bot.storage.uow import UnitOfWork
from bot.wallet.apple_pass import MEDIA_TYPE
from bot.wallet.face import read_face
from bot.wallet.setup import Wallet

log = logging.getLogger(__name__)

PREFIX = "/wallet/apple/v1"
MAX_LOG_LINES = 20
# an APNs device token is hex; it becomes part of the push's URL path (apple_push.py)
PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{1,255}")
# a device library identifier: printable ASCII (a NUL would fail PostgreSQL's text)
DEVICE = re.compile(r"[!-~]{1,128}")
SERIAL = re.compile(r"[0-9a-f]{32}")  # what downloads.new_serial makes


def install(app: web.Application, wallet: Wallet) -> None:
    service = AppleService(wallet)
    devices = f"{PREFIX}/devices/{{device}}/registrations/{{pass_type}}"
    app.router.add_post(devices + "/{serial}", service.register)
    app.router.add_delete(devices + "/{serial}", service.unregister)
    app.router.add_get(devices, service.updated, allow_head=False)
    app.router.add_get(f"{PREFIX}/passes/{{pass_type}}/{{serial}}", service.latest, allow_head=False)
    app.router.add_post(f"{PREFIX}/log", service.log)


def tag(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1_000_000))


def from_tag(text: str | None) -> datetime | None:
    """A tag this service gave; None for anything else (a device then gets every serial)."""
    if not text or not text.isdecimal() or len(text) > 20:
        return None
    try:
        return datetime.fromtimestamp(int(text) / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):  # beyond the years a datetime holds
        return None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; ``{}`` for anything else (not JSON, too deep, a list)."""
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    return body if isinstance(body, dict) else {}


class AppleService:
    def __init__(self, wallet: Wallet) -> None:
        assert wallet.apple is not None
        self.wallet = wallet
        self.apple = wallet.apple
        self.pass_type = wallet.apple.settings.pass_type_id

    async def _authorised(self, uow: UnitOfWork, request: web.Request) -> WalletPass:
        """The pass the request names, when its token is that pass's; else 401."""
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if request.match_info["pass_type"] != self.pass_type or scheme != "ApplePass":
            raise web.HTTPUnauthorized()
        serial = request.match_info["serial"]
        if not SERIAL.fullmatch(serial) or not same_secret(token.strip(), self.apple.auth_token(serial)):
            raise web.HTTPUnauthorized()  # no serial of ours: never looked up
        wallet_pass = await uow.wallet_passes.by_serial(serial)
        if wallet_pass is None:
            raise web.HTTPUnauthorized()
        return wallet_pass

    async def register(self, request: web.Request) -> web.Response:
        push_token = (await json_body(request)).get("pushToken")
        device = request.match_info["device"]
        async with self.wallet.unit_of_work() as uow:
            wallet_pass = await self._authorised(uow, request)
            if not isinstance(push_token, str) or not PUSH_TOKEN.fullmatch(push_token) \
                    or not DEVICE.fullmatch(device):
                raise web.HTTPBadRequest()
            created = await uow.wallet_passes.register(wallet_pass.id, device, push_token,
                                                       self.wallet.services.clock.now())
            await uow.commit()
        return web.Response(status=201 if created else 200)

    async def unregister(self, request: web.Request) -> web.Response:
        async with self.wallet.unit_of_work() as uow:
            wallet_pass = await self._authorised(uow, request)
            if DEVICE.fullmatch(request.match_info["device"]):  # else it holds nothing
                await uow.wallet_passes.unregister(wallet_pass.id, request.match_info["device"])
                await uow.commit()
        return web.Response(status=200)

    async def updated(self, request: web.Request) -> web.Response:
        if request.match_info["pass_type"] != self.pass_type or not DEVICE.fullmatch(
                request.match_info["device"]):
            return web.Response(status=204)
        since = from_tag(request.query.get("passesUpdatedSince"))
        async with self.wallet.unit_of_work() as uow:
            found = await uow.wallet_passes.updated_for_device(request.match_info["device"], since)
        if not found:
            return web.Response(status=204)
        return web.json_response({"serialNumbers": sorted(serial for serial, _ in found),
                                  "lastUpdated": tag(max(at for _, at in found))})

    async def latest(self, request: web.Request) -> web.Response:
        async with self.wallet.unit_of_work() as uow:
            wallet_pass = await self._authorised(uow, request)
            modified = wallet_pass.updated_at.replace(microsecond=0)
            since = _if_modified_since(request)
            if since is not None and modified <= since:
                return web.Response(status=304)
            face = await read_face(uow, self.wallet.services, wallet_pass,
                                   self.wallet.deep_link(wallet_pass.channel))
        if face is None:
            raise web.HTTPUnauthorized()  # the customer left: the pass is no one's now
        return web.Response(body=self.apple.build(face), content_type=MEDIA_TYPE,
                            headers={"Last-Modified": format_datetime(modified, usegmt=True)})

    async def log(self, request: web.Request) -> web.Response:
        logs = (await json_body(request)).get("logs")
        for line in logs[:MAX_LOG_LINES] if isinstance(logs, list) else []:
            log.warning("Apple Wallet: %s", json.dumps(line, ensure_ascii=False)[:500])
        return web.Response(status=200)


def _if_modified_since(request: web.Request) -> datetime | None:
    header = request.headers.get("If-Modified-Since")
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
