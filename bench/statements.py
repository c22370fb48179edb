"""What the database statements cost a request, for the benchmarks.

``StatementMeter`` counts the statements an engine runs while it is on, by their text, and
adds up the time each spends in the driver: from just before the cursor executes to just
after it returns, i.e. the wait for SQLite's thread or PostgreSQL's answer. Making and
closing the cursor and the COMMIT are outside it. The rest of a request's time is HTTP,
SQLAlchemy and the app's own Python: the part no faster database can take away, which sets
the ceiling of a request against a floor measured in the same run.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

STARTED = "bench_statement_started"  # the connection's info key: when its statement began


@dataclass
class Split:
    """Per request: its whole time, the time in its statements, and how many it ran."""

    name: str
    ms: float
    statement_ms: float
    statements: float

    @property
    def rest_ms(self) -> float:
        return self.ms - self.statement_ms

    def line(self) -> str:
        return (f"{self.name:<26} {self.ms:6.2f} ms = {self.statement_ms:5.2f} ms in "
                f"{self.statements:4.1f} statements + {self.rest_ms:5.2f} ms the rest")


class StatementMeter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0
        self.on = False

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def started(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if self.on:
                self.counts[" ".join(statement.split())[:110]] += 1
                conn.info[STARTED] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def ended(conn: Any, *_args: Any) -> None:
            began = conn.info.pop(STARTED, None)
            if began is not None:
                self.seconds += time.perf_counter() - began

    def reset(self) -> None:
        self.counts.clear()
        self.seconds = 0.0

    def record(self, on: bool) -> None:
        """Switched on for a measured run and off after it (what ``measure`` calls)."""
        self.on = on

    def split(self, name: str, requests: int, seconds: float) -> Split:
        """The requests of the run just metered, which took ``seconds`` in all."""
        return Split(name, seconds / requests * 1000, self.seconds / requests * 1000,
                     sum(self.counts.values()) / requests)


def ceiling(floor: Split, work: Split, target_percent: float) -> str:
    """How fast ``work`` could be against ``floor`` if its statements cost nothing."""
    best = floor.ms / work.rest_ms * 100
    return (f"with its statements free, {work.name} would take {work.rest_ms:.2f} ms = at most "
            f"{best:.0f} % of the floor ({floor.ms:.2f} ms a request); {target_percent:.0f} % needs "
            f"the whole of it within {floor.ms / target_percent * 100:.2f} ms")
