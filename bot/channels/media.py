"""Pictures served by the app itself under signed, expiring links, for platforms that take
an image only as a URL (Viber).

A link names the picture by its content hash, carries its expiry and an HMAC of both under
a key derived from the installation secret: a made-up or an expired link gets 404. The bytes
are kept in memory, a bounded number of the most recent ones, so **a link is served only by
the instance that made it** (behind a load balancer, send the path to that instance, or
expect a 404 once a picture is pushed out or the process restarts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta

from aiohttp import web

from bot.core.clock import Clock
from bot.core.keys import keyed_hash, same_secret
from bot.core.lru import LruCache

CAPACITY = 512  # pictures kept; a card QR is ~2 KB, a chart ~50 KB


class MediaLinks:
    def __init__(self, key: bytes, base_url: str, path: str, clock: Clock, ttl: timedelta,
                 capacity: int = CAPACITY) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.path = path.rstrip("/")
        self.clock = clock
        self.ttl = ttl
        self._images: LruCache[str, bytes] = LruCache(capacity)

    def publish(self, image: bytes) -> str:
        """A public URL that serves ``image`` until the link expires."""
        name = hashlib.sha256(image).hexdigest()[:32]
        self._images.put(name, image)
        expires = int((self.clock.now() + self.ttl).timestamp())
        extension = "jpg" if image.startswith(b"\xff\xd8") else "png"
        return f"{self.base_url}{self.path}/{name}.{extension}?e={expires}&s={self._sign(name, expires)}"

    def _sign(self, name: str, expires: int) -> str:
        return keyed_hash(self._key, f"{name}:{expires}")[:32]

    def install(self, app: web.Application) -> None:
        app.router.add_get(self.path + "/{name}.{extension}", self.serve)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        name, extension = request.match_info["name"], request.match_info["extension"]
        image = self._images.get(name) if self._valid(name, request.query) else None
        if image is None:
            raise web.HTTPNotFound()
        content_type = "image/jpeg" if extension == "jpg" else "image/png"
        return web.Response(body=image, content_type=content_type,
                            headers={"Cache-Control": "private, max-age=3600"})

    def _valid(self, name: str, query: Mapping[str, str]) -> bool:
        try:
            expires = int(query.get("e", ""))
        except ValueError:
            return False
        signed = same_secret(query.get("s", ""), self._sign(name, expires))
        return signed and self.clock.now().timestamp() <= expires
