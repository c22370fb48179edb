"""Quiet hours: when the program does not start a conversation (triggers, broadcasts). The
messages written meanwhile wait until the hours are over, in the shop's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from bot.config import TriggersSettings


def quiet_until(at: datetime, settings: TriggersSettings, zone: tzinfo) -> datetime:
    """``at``, or the end of the quiet hours it falls into (the shop's time zone)."""
    local = at.astimezone(zone)
    start, end, now = settings.quiet_start, settings.quiet_end, local.time()
    quiet = (now >= start or now < end) if start > end else (start <= now < end)
    if not quiet:
        return at
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, zone).astimezone(UTC)


def past_quiet(at: datetime, settings: TriggersSettings, zone: tzinfo) -> datetime:
    """``at``, or, when it falls into quiet hours, as long after their end as it was after
    their start: a schedule that runs into the evening goes on at the same pace in the
    morning instead of piling up at the end of the quiet hours."""
    end = quiet_until(at, settings, zone)
    if end == at:
        return at
    local = at.astimezone(zone)
    day = local.date() if local.time() >= settings.quiet_start else local.date() - timedelta(days=1)
    began = datetime.combine(day, settings.quiet_start, zone).astimezone(UTC)
    return end + (at - began)
