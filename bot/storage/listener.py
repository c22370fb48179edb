"""One PostgreSQL connection of a process's own for what happens in other processes: it
LISTENs on a channel (``NOTIFY`` from any process reaches every listener once its
transaction commits) and it holds the process's presence locks (shared advisory locks, one
per key, e.g. per web chat visitor with a page open here). PostgreSQL releases the locks when
the connection closes, so a process that dies is nobody's presence any more; a process asks
whether any process holds a key with ``held_anywhere`` (bot/storage/repositories/).

A broken connection is noticed within ``check_seconds`` and made again (with a growing
pause); the locks are taken again, and ``on_reconnect`` runs, since what was notified
meanwhile was lost. SQLite serves one process: nothing of this is used there.

Each lock takes a slot of the server's shared lock table (max_locks_per_transaction ×
max_connections, 6400 by default, for every session's locks), so a process holds at most
``MAX_HELD``; past that someone only looks absent (for the web chat: a message shown live is
recorded ``waiting``, and ``sent`` when they come back)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# the first key of pg_advisory_lock_shared(int, int) naming "a web chat page is open"
PRESENCE_LOCKS = 0x77656263  # "webc"
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)
MAX_HELD = 500


def presence_key(name: str) -> int:
    """The second key of a presence lock: a 32-bit hash of ``name`` (a collision only makes
    someone look present who is not)."""
    return zlib.crc32(name.encode()) - 2 ** 31


def connect_args(url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for the app's SQLAlchemy URL, as SQLAlchemy reads it."""
    parsed = make_url(url)
    _args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    return dict(kwargs)


class Listener:
    def __init__(self, url: str, channel: str, on_notify: Callable[[str], Awaitable[None]],
                 on_reconnect: Callable[[], Awaitable[None]] | None = None,
                 check_seconds: float = 5.0) -> None:
        self.url, self.channel = url, channel
        self.on_notify, self.on_reconnect = on_notify, on_reconnect
        self.check_seconds = check_seconds
        self._connection: asyncpg.Connection | None = None
        self._use = asyncio.Lock()  # one query at a time on the connection
        self._keys: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Listen from now on (returns once listening, or after a first failed attempt)."""
        self._task = asyncio.create_task(self._run(), name=f"listen-{self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), self.check_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.gather(*self._handling, return_exceptions=True)
        await self._close()

    async def hold(self, key: int) -> None:
        """Hold the presence lock ``key`` (once, however often it is asked; not past
        ``MAX_HELD`` locks)."""
        if key not in self._keys and len(self._keys) < MAX_HELD:
            self._keys.add(key)
            await self._lock(key)

    async def let_go(self, key: int) -> None:
        if key in self._keys:
            self._keys.discard(key)
            await self._query("SELECT pg_advisory_unlock_shared($1, $2)", PRESENCE_LOCKS, key)

    async def _lock(self, key: int) -> None:
        await self._query("SELECT pg_advisory_lock_shared($1, $2)", PRESENCE_LOCKS, key)

    async def _query(self, sql: str, *args: object) -> None:
        """Run ``sql`` if connected; when not, the reconnection does what is needed."""
        async with self._use:
            if self._connection is None:
                return
            try:
                await self._connection.execute(sql, *args)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("listener: %s failed (%s)", sql, error)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
                if attempt and self.on_reconnect is not None:
                    await self.on_reconnect()
                attempt = 0
                await self._until_broken()
            except Exception as error:  # the server away, the network cut: connect again
                log.warning("listener on %s: connection lost (%s: %s); connecting again",
                            self.channel, type(error).__name__, error)
            self.connected.clear()
            await self._close()
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def _connect(self) -> None:
        connection = await asyncpg.connect(**connect_args(self.url), timeout=self.check_seconds)
        async with self._use:
            self._connection = connection  # closed by _close if what follows fails
            await connection.add_listener(self.channel, self._notified)
            for key in list(self._keys):  # what this process held before the connection broke
                await connection.execute("SELECT pg_advisory_lock_shared($1, $2)",
                                         PRESENCE_LOCKS, key)
        self.connected.set()
        log.info("listening on %s", self.channel)

    async def _until_broken(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            async with self._use:
                assert self._connection is not None
                await asyncio.wait_for(self._connection.fetchval("SELECT 1"), self.check_seconds)

    async def _close(self) -> None:
        async with self._use:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: closing is all that is left
                await asyncio.wait_for(connection.close(), 1.0)
            if not connection.is_closed():
                connection.terminate()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.create_task(self._handle(payload))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, payload: str) -> None:
        try:
            await self.on_notify(payload)
        except Exception:  # one message that could not be shown must not stop the others
            log.exception("listener on %s: handling a notification failed", self.channel)
