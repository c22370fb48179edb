"""Exactly one process runs the scheduled jobs. On PostgreSQL, whichever worker (or ``all``
process) holds the scheduler's advisory lock (bot/storage/leader.py) leads; the others wait
and take over within ``scheduler.takeover_seconds`` of the leader's death. A leader that
loses its lock's connection stops its jobs and waits like the others. On SQLite the one
process leads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from bot.core.conversation import Core
from bot.scheduler import build_scheduler
from bot.storage.leader import Leadership, shared

log = logging.getLogger(__name__)


async def lead_scheduler(core: Core) -> None:
    """Run the scheduled jobs whenever this process leads, until cancelled."""
    settings = core.services.settings
    if not shared(settings.database.url):
        await _run_jobs(core, until=asyncio.Event().wait())
        return
    leadership = Leadership(settings.database.url, retry_seconds=settings.scheduler.takeover_seconds)
    try:
        while True:
            if not await leadership.try_acquire():
                log.info("scheduler: another process leads; trying again every %s s",
                         leadership.retry_seconds)
                await leadership.acquire()
            await _run_jobs(core, until=leadership.lost())
    finally:
        await leadership.release()


async def _run_jobs(core: Core, until: Awaitable[object]) -> None:
    scheduler = build_scheduler(core)
    scheduler.start()
    log.info("scheduler: leading (this process runs the scheduled jobs)")
    try:
        await until
    finally:
        scheduler.shutdown(wait=False)
        log.info("scheduler: stopped leading")
