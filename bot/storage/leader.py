"""Which process leads: a PostgreSQL session-level advisory lock, held on a connection of
its own kept open for as long as the process leads. PostgreSQL releases it when that
connection closes, so a leader that dies (even by SIGKILL) hands over at once; the others
try again every few seconds. SQLite serves one process: there, the only process leads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# pg_advisory_lock's key (a bigint) naming "the scheduler" among this program's locks
SCHEDULER_LOCK = 0x6C6F79616C7479  # "loyalty"
# pg_advisory_xact_lock's key for building the day book at start
DAY_BOOK_LOCK = SCHEDULER_LOCK + 1
# pg_advisory_lock's key for migrating the schema (`loyalty-bot db upgrade`)
MIGRATION_LOCK = SCHEDULER_LOCK + 2
# pg_advisory_lock's keys of the messengers' long polling: this plus the CRC-32 of the name
POLLING_LOCKS = SCHEDULER_LOCK + 0x100


async def take_turns(session: AsyncSession, key: int) -> None:
    """Wait until no other transaction holds ``key``, then hold it until this session's
    transaction ends: processes that start together on PostgreSQL do a one-time write one
    after the other, the later ones finding it done. SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def shared(url: str) -> bool:
    """Several processes can share this database (a server, not a SQLite file)."""
    return make_url(url).get_backend_name() != "sqlite"


@contextlib.asynccontextmanager
async def one_at_a_time(url: str, key: int) -> AsyncIterator[None]:
    """Run the block while holding ``key``, waiting first for whoever holds it (on a
    connection of its own, so the block may use any other); on SQLite just run it."""
    if not shared(url):
        yield
        return
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        await engine.dispose()


class Leadership:
    """``acquire()`` returns once this process holds the lock; ``lost()`` returns when it
    no longer does (its connection broke); ``release()`` gives it up."""

    def __init__(self, url: str, key: int = SCHEDULER_LOCK, retry_seconds: float = 5.0) -> None:
        self.key = key
        self.retry_seconds = retry_seconds
        self._engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                           connect_args={"timeout": retry_seconds})
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> None:
        while True:
            if await self.try_acquire():
                return
            await asyncio.sleep(self.retry_seconds)  # polled: the lock can't notify a waiter

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False when another process does."""
        try:
            connection = await self._engine.connect()
        except Exception as error:  # the server away for a moment: try again later
            log.warning("leader lock: can't reach the database (%s: %s)", type(error).__name__, error)
            return False
        try:
            held = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                           {"key": self.key})
        except Exception as error:
            log.warning("leader lock: the attempt failed (%s: %s)", type(error).__name__, error)
            held = False
        if not held:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def lost(self) -> None:
        """Check the held lock's connection every ``retry_seconds``; return when it broke
        (the server then released the lock, and another process may lead by now)."""
        while self._connection is not None:
            await asyncio.sleep(self.retry_seconds)
            try:
                await asyncio.wait_for(self._connection.scalar(text("SELECT 1")), self.retry_seconds)
            except Exception as error:
                log.error("leader lock: its connection broke (%s: %s)", type(error).__name__, error)
                await self._drop()
                return

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            except Exception:  # already gone; closing it is all that is left to do
                log.debug("leader lock: invalidating a broken connection failed", exc_info=True)

    async def release(self) -> None:
        """Give the lock up (closing its connection releases it) and let go of the engine."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # the server is gone: nothing is held there any more
                log.debug("leader lock: closing its connection failed", exc_info=True)
        await self._engine.dispose()


def polling_lock(name: str) -> int:
    """The lock of a messenger's long polling (``in_turn``)."""
    return POLLING_LOCKS + zlib.crc32(name.encode())


async def in_turn(url: str, key: int, work: Callable[[], Awaitable[None]], *, what: str,
                  retry_seconds: float = 5.0) -> None:
    """Run ``work`` in one process at a time of those sharing the database (``key`` is its
    lock): the others wait, and one of them starts it within ``retry_seconds`` once the
    process running it dies, or once its lock's connection breaks (its work is stopped then:
    another process may run it by now). Returns when ``work`` does; on SQLite just runs it."""
    if not shared(url):
        await work()
        return
    turn = Leadership(url, key, retry_seconds)
    try:
        while True:
            if not await turn.try_acquire():
                log.info("%s: another process runs it; this one takes over when it stops", what)
                await turn.acquire()
            working, lost = asyncio.ensure_future(work()), asyncio.ensure_future(turn.lost())
            try:
                await asyncio.wait({working, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (working, lost):
                    task.cancel()  # a task done already ignores it
                await asyncio.gather(working, lost, return_exceptions=True)
            if not working.cancelled():  # the work ended: stopped, or failed
                if (error := working.exception()) is not None:
                    log.error("%s failed (%s: %s)", what, type(error).__name__, error)
                    raise error
                return
            log.warning("%s: its lock was lost; waiting for another turn", what)
    finally:
        await turn.release()
