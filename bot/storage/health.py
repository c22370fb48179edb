"""Is the database ready for this process: it answers, and its schema is the one this code
migrates to. The readiness probe behind /readyz (bot/api/health.py) opens a connection of
its own each time, reads the Alembic revision and gives up after a few seconds; whatever
goes wrong is an answer ("not ready"), never an exception, and only the log has details."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.storage import database

log = logging.getLogger(__name__)

DATABASE_UNREACHABLE = "database_unreachable"
MIGRATIONS_PENDING = "migrations_pending"  # `loyalty-bot db upgrade` has not run yet
UNKNOWN_REVISION = "unknown_revision"  # a newer release migrated it: this code is the old one


@dataclass(frozen=True)
class Readiness:
    problem: str | None  # None: ready
    current: str | None = None  # the database's revision, when it answered
    expected: str = ""  # the revision this code needs

    @property
    def ready(self) -> bool:
        return self.problem is None


class Probe:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.head, self.known = database.revisions()
        self.timeout = timeout
        self._engine = database.create_probe(url, timeout)
        self._last: str | None = None

    async def check(self) -> Readiness:
        try:
            current = await asyncio.wait_for(self._revision(), self.timeout)
        except Exception as error:  # no answer in time, refused, gone: all mean "unreachable"
            self._note(DATABASE_UNREACHABLE, f"{type(error).__name__}: {error}")
            return Readiness(DATABASE_UNREACHABLE, expected=self.head)
        readiness = Readiness(self._problem(current), current, self.head)
        self._note(readiness.problem, f"at revision {current}, this code needs {self.head}")
        return readiness

    def _problem(self, current: str | None) -> str | None:
        if current == self.head:
            return None
        return MIGRATIONS_PENDING if current is None or current in self.known else UNKNOWN_REVISION

    async def _revision(self) -> str | None:
        async with self._engine.connect() as connection:
            return await connection.run_sync(database.current_revision)

    def _note(self, problem: str | None, detail: str) -> None:
        """Log a change of state once, not every probe of a load balancer."""
        if problem != self._last:
            if problem:
                log.warning("not ready: %s (%s)", problem, detail)
            else:
                log.info("ready: the database answers and its schema is current")
        self._last = problem

    async def close(self) -> None:
        await self._engine.dispose()
