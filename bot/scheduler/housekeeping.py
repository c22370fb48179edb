"""Periodic upkeep: burn expired points on the ledger, forget old inbound event ids and
what each channel keeps of old messages (``ChannelKind.upkeep``: the platform ids of old
WhatsApp messages, old web chat history; the expired channel notes and published pictures
of every channel), check the day book against the stored rows."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.channels.registry import kinds
from bot.core.conversation import Core
from bot.loyalty.ledger import Ledger
from bot.storage import day_book

log = logging.getLogger(__name__)

# Platforms redeliver within hours; Telegram may reuse update ids after a week of silence.
KEEP_EVENT_IDS = timedelta(days=2)
# Someone who wrote and never agreed to join: nothing of theirs is kept longer than this.
KEEP_STRANGERS = timedelta(days=30)


async def expire_points(core: Core) -> int:
    """Record the burning of every lot past its expiry, a batch per transaction."""
    total = 0
    while True:
        async with core.unit_of_work() as uow:
            burnt = await Ledger(uow, core.services.clock).expire_due()
            await uow.commit()
        if not burnt:
            break
        total += burnt
    if total:
        log.info("expired %d points", total)
    return total


async def forget_old_event_ids(core: Core) -> None:
    now = core.services.clock.now()
    async with core.unit_of_work() as uow:
        await uow.processed_events.forget_older_than(now - KEEP_EVENT_IDS)
        for kind in kinds():
            if kind.upkeep is not None:
                await kind.upkeep(uow, now)
        await uow.channel_notes.forget_expired(now)
        await uow.published_pictures.forget_expired(now)
        await uow.identities.forget_strangers(last_seen_before=now - KEEP_STRANGERS)
        await uow.commit()


async def check_day_book(core: Core) -> int:
    """Count the day book again from the stored rows (in a snapshot, without stopping the
    writers) and compare it with the kept one. A difference means some write did not keep
    the book: it is logged as an error, with where, and repaired. Returns how many figures
    differed. The book's shards are folded into one row per key first."""
    async with core.unit_of_work() as uow:
        await uow.book.fold()
        await uow.commit()
    found = await day_book.check_database(core.services.settings.database.url)
    if not found.built or found.holds:
        return 0
    log.error("the day book differs from the stored rows in %d figure(s); repairing them:\n%s",
              len(found.wrong), "\n".join(found.lines()))
    async with core.unit_of_work() as uow:
        await uow.book.repair(found.wrong)
        await uow.commit()
    return len(found.wrong)
