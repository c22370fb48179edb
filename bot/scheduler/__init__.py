"""The jobs that run on their own, on APScheduler in the app's process."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.conversation import Core
from bot.marketing.broadcasts import advance as advance_broadcasts
from bot.marketing.segment_snapshot import take_nightly as snapshot_segments
from bot.marketing.triggers import scheduled_hourly_pass, scheduled_pass
from bot.scheduler.housekeeping import check_day_book, expire_points, forget_old_event_ids
from bot.wallet.setup import configured
from bot.wallet.updates import renew_old_cards

CATCH_UP_DELAY = timedelta(seconds=30)  # let the channels connect first
BROADCAST_SECONDS = 5


def _not_routine_broadcast_runs(record: logging.LogRecord) -> bool:
    """APScheduler logs every run at INFO; the broadcast job's runs every few seconds would
    bury the log (its failures are still logged, by the job and as warnings)."""
    job = record.args[0] if isinstance(record.args, tuple) and record.args else None
    return record.levelno >= logging.WARNING or getattr(job, "id", None) != "broadcasts"


def build_scheduler(core: Core) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=core.services.timezone)
    scheduler.add_job(expire_points, "cron", minute=5, args=[core], id="expire-points",
                      coalesce=True, max_instances=1)
    scheduler.add_job(forget_old_event_ids, "cron", hour=4, minute=15, args=[core],
                      id="forget-event-ids", coalesce=True, max_instances=1)
    scheduler.add_job(check_day_book, "cron", hour=4, minute=30, args=[core],
                      id="check-day-book", coalesce=True, max_instances=1)
    scheduler.add_job(snapshot_segments, "cron", hour=4, minute=45, args=[core],
                      id="segment-snapshot", coalesce=True, max_instances=1)
    if configured(core.services.settings):
        scheduler.add_job(renew_old_cards, "cron", minute=50, args=[core],
                          id="renew-wallet-cards", coalesce=True, max_instances=1)
    run_at = core.services.settings.triggers.run_at
    scheduler.add_job(scheduled_pass, "cron", hour=run_at.hour, minute=run_at.minute, args=[core],
                      id="trigger-pass", coalesce=True, max_instances=1)
    scheduler.add_job(scheduled_hourly_pass, "cron", minute=35, args=[core],
                      id="hourly-triggers", coalesce=True, max_instances=1)
    # broadcasts: write a fresh (or interrupted) one into the outbox, update its progress line
    executor_log = logging.getLogger("apscheduler.executors.default")
    if _not_routine_broadcast_runs not in executor_log.filters:
        executor_log.addFilter(_not_routine_broadcast_runs)
    scheduler.add_job(advance_broadcasts, "interval", seconds=BROADCAST_SECONDS, args=[core],
                      id="broadcasts", coalesce=True, max_instances=1)
    now = core.services.clock.now().astimezone(core.services.timezone)
    # a shop upgraded, or down at 04:45: today's snapshot, unless there is one already
    scheduler.add_job(snapshot_segments, "date", run_date=now + CATCH_UP_DELAY, args=[core],
                      id="segment-snapshot-catch-up")
    if now.time() > run_at:
        # Started after today's pass time: today's pass may have been missed while the app
        # was down. A pass fires once per episode, so running it again is harmless.
        scheduler.add_job(scheduled_pass, "date", run_date=now + CATCH_UP_DELAY, args=[core],
                          id="trigger-pass-catch-up")
    return scheduler
