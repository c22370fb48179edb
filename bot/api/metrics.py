"""/metrics for Prometheus: what the core, the outbox sender and the trigger pass count
(bot/core/metrics.py), and the outbox's queue read from the database at each scrape.

The figures are the shop's business (how many people write, how many messages go out), and
this port also serves the webhooks and the web chat to the world, so /metrics answers only
to ``Authorization: Bearer <[metrics] token>`` (401 otherwise) and is not served at all
while no token is set. Each application has its own registry, not prometheus_client's
global one: several applications in one process (the tests) do not mix their counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from bot.core.keys import same_secret
from bot.core.metrics import Outcome
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# seconds: an event is a few database round trips; a pass may take minutes on a big base
EVENT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PASS_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class PrometheusMetrics:
    """The program's metrics (bot/core/metrics.py's interface) in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        where = self.registry
        self._events = Counter("loyalty_events_handled", "Inbound events handled by the core",
                               ["channel", "outcome"], registry=where)
        self._latency = Histogram("loyalty_event_handling_seconds",
                                  "Time to handle one inbound event, the wait for the "
                                  "person's earlier events included", ["channel"],
                                  buckets=EVENT_BUCKETS, registry=where)
        self._sent = Counter("loyalty_outbox_sent", "Messages the outbox delivered",
                             ["channel"], registry=where)
        self._retry_later = Counter("loyalty_outbox_retry_later",
                                    "Times the platform asked the outbox to wait (429)",
                                    ["channel"], registry=where)
        self._queue = Gauge("loyalty_outbox_queue_depth",
                            "Outbox messages still to go (read from the database at scrape)",
                            ["channel", "status"], registry=where)
        self._pass = Histogram("loyalty_trigger_pass_seconds",
                               "Duration of a trigger pass that sends", buckets=PASS_BUCKETS,
                               registry=where)
        self._queued = Counter("loyalty_trigger_messages_queued",
                               "Messages a trigger pass put into the outbox", ["trigger"],
                               registry=where)

    def event_handled(self, channel: str, outcome: Outcome, seconds: float) -> None:
        self._events.labels(channel, outcome).inc()
        self._latency.labels(channel).observe(seconds)

    def message_sent(self, channel: str) -> None:
        self._sent.labels(channel).inc()

    def retry_later(self, channel: str) -> None:
        self._retry_later.labels(channel).inc()

    def trigger_pass(self, seconds: float) -> None:
        self._pass.observe(seconds)

    def trigger_queued(self, trigger: str, count: int) -> None:
        self._queued.labels(trigger).inc(count)

    async def read_queue(self, unit_of_work: Callable[[], UnitOfWork]) -> None:
        """The queue depth as the database has it now; left out if it can't be read (the
        counters are still served; /readyz tells about the database)."""
        self._queue.clear()  # a channel whose queue emptied must not keep its last figure
        try:
            async with unit_of_work() as uow:
                depth = await uow.outbox_messages.queue_depth()
        except Exception:
            log.warning("/metrics: the outbox queue can't be read", exc_info=True)
            return
        for (channel, status), count in depth.items():
            self._queue.labels(channel, status).set(count)


def authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(given.strip(), token)


def install(app: web.Application, metrics: PrometheusMetrics,
            unit_of_work: Callable[[], UnitOfWork], token: str) -> None:
    async def scrape(request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization"), token):
            return web.Response(status=401, text="send Authorization: Bearer <metrics token>",
                                headers={"WWW-Authenticate": "Bearer"})
        await metrics.read_queue(unit_of_work)
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(metrics.registry),
                            headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    app.router.add_get("/metrics", scrape)
