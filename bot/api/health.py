"""/healthz and /readyz, for a load balancer or an orchestrator: no key, nothing secret, no
error's details (they go to the log).

- /healthz: the process serves HTTP — 200 ``{"status": "ok"}``; the database is not asked,
  so a database outage does not get every instance restarted.
- /readyz: this instance can take traffic — 200 ``{"status": "ready", "revision": ...}`` when
  the database answers and its schema is at the revision this code needs; else 503
  ``{"status": "unavailable", "error": code, "current": ..., "expected": ...}``, the code
  being ``database_unreachable``, ``migrations_pending`` or ``unknown_revision``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.storage.health import DATABASE_UNREACHABLE, Probe

NOT_CACHED = {"Cache-Control": "no-store"}


def install(app: web.Application, probe: Probe) -> None:
    async def alive(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers=NOT_CACHED)

    async def ready(_request: web.Request) -> web.Response:
        readiness = await probe.check()
        if readiness.ready:
            return web.json_response({"status": "ready", "revision": readiness.current},
                                     headers=NOT_CACHED)
        body: dict[str, Any] = {"status": "unavailable", "error": readiness.problem,
                                "expected": readiness.expected}
        if readiness.problem != DATABASE_UNREACHABLE:
            body["current"] = readiness.current  # None: never migrated
        return web.json_response(body, status=503, headers=NOT_CACHED)

    app.router.add_get("/healthz", alive)
    app.router.add_get("/readyz", ready)
