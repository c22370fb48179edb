"""Pictures served by the app itself under signed, expiring links, for platforms that take
an image only as a URL (Viber).

A link names the picture by its content hash, carries its expiry and an HMAC of both under
a key derived from the installation secret: a made-up or an expired link gets 404. The
pictures are kept in the database (``uow.published_pictures``) at least as long as the
links made for them work, so **any web process serves a link that any process made** (the
worker's outbox, another web process behind the load balancer); the housekeeping prunes
them afterwards. The same picture is stored once, by its hash; a small cache in memory
serves the recent ones without the database (a hash's content never changes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from bot.core.clock import Clock
from bot.core.keys import keyed_hash, same_secret
from bot.core.lru import LruCache
from bot.storage.repositories.published_pictures import Kept

if TYPE_CHECKING:
    from bot.storage.uow import UnitOfWork

CAPACITY = 512  # pictures cached; a card QR is ~2 KB, a chart ~50 KB


class MediaLinks:
    def __init__(self, key: bytes, base_url: str, path: str, clock: Clock, ttl: timedelta,
                 units: Callable[[], UnitOfWork], capacity: int = CAPACITY) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.path = path.rstrip("/")
        self.clock = clock
        self.ttl = ttl
        self._units = units
        self._kept: LruCache[str, Kept] = LruCache(capacity)  # name → the picture, stored until

    async def publish(self, image: bytes) -> str:
        """A public URL that serves ``image`` until the link expires."""
        name = hashlib.sha256(image).hexdigest()[:32]
        expires = self.clock.now() + self.ttl
        await self._store(name, image, expires)
        stamp = int(expires.timestamp())
        extension = "jpg" if image.startswith(b"\xff\xd8") else "png"
        return f"{self.base_url}{self.path}/{name}.{extension}?e={stamp}&s={self._sign(name, stamp)}"

    async def _store(self, name: str, image: bytes, expires: datetime) -> None:
        """Stored until a ttl after ``expires``: publishing it again within a ttl writes
        nothing (the same picture in a broadcast's every message)."""
        kept = self._kept.get(name)
        if kept is not None and kept.until >= expires:
            return
        until = expires + self.ttl
        async with self._units() as uow:
            await uow.published_pictures.keep(name, image, until)
            await uow.commit()
        self._kept.put(name, Kept(image, until))

    def _sign(self, name: str, expires: int) -> str:
        return keyed_hash(self._key, f"{name}:{expires}")[:32]

    def install(self, app: web.Application) -> None:
        app.router.add_get(self.path + "/{name}.{extension}", self.serve)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        name, extension = request.match_info["name"], request.match_info["extension"]
        image = await self._image(name) if self._valid(name, request.query) else None
        if image is None:
            raise web.HTTPNotFound()
        content_type = "image/jpeg" if extension == "jpg" else "image/png"
        return web.Response(body=image, content_type=content_type,
                            headers={"Cache-Control": "private, max-age=3600"})

    async def _image(self, name: str) -> bytes | None:
        kept = self._kept.get(name)
        if kept is None:
            async with self._units() as uow:
                kept = await uow.published_pictures.find(name)
            if kept is None:
                return None
            self._kept.put(name, kept)
        return kept.image

    def _valid(self, name: str, query: Mapping[str, str]) -> bool:
        try:
            expires = int(query.get("e", ""))
        except ValueError:
            return False
        signed = same_secret(query.get("s", ""), self._sign(name, expires))
        return signed and self.clock.now().timestamp() <= expires
