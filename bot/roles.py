"""What one ``loyalty-bot run`` process does (``--role``). Several processes can share one
PostgreSQL: any number of web processes behind a load balancer and of workers (one of them
leads the scheduler, bot/scheduler/leading.py; the outbox is shared by claims)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ALL = "all"
    WEB = "web"  # a web server process (webhooks, the POS API, the web chat), not a channel
    WORKER = "worker"

    @property
    def inbound(self) -> bool:
        """Serves the web server and takes the messengers' inbound updates."""
        return self in (Role.ALL, Role.WEB)

    @property
    def background(self) -> bool:
        """Runs the scheduler (when it leads) and the outbox sender."""
        return self in (Role.ALL, Role.WORKER)

    @property
    def runs(self) -> str:
        return RUNS[self]


RUNS = {
    Role.ALL: "web server, messengers, scheduler and outbox sender",
    Role.WEB: "web server and messengers' inbound side; no scheduler, no outbox sender",
    Role.WORKER: "scheduler and outbox sender; serves only /healthz, /readyz and /metrics, "
                 "no inbound messages",
}
