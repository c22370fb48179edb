"""The trigger pass on a real PostgreSQL: the core scenarios of tests/test_triggers.py run
again with ``db_url`` pointing at a fresh, migrated PostgreSQL database, and two passes
racing for the same moment never send a trigger twice."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import bot.marketing.triggers
import bot.marketing.triggers.runner
from bot.app import Application, build
from bot.marketing.triggers import run_pass
from bot.storage.models import OutboxMessage, PointLot
from tests.test_cashier_chat import Outbox, outbox  # noqa: F401 - outbox is a fixture
from tests.test_triggers import (  # noqa: F401 - collected again here, on PostgreSQL
    buy,
    count,
    day,
    only,
    sends,
    signed_up,
    test_a_purchase_starts_a_new_episode_and_a_pass_fires_once,
    test_birthday_three_days_before,
    test_expiry_warning_ten_days_before,
    test_win_back_day_31_61_91,
)


@pytest.fixture
def db_url(pg_migrated_url: str) -> str:
    """Every ``app`` in this module lives on its own migrated PostgreSQL database."""
    return pg_migrated_url


@pytest.fixture
async def second_worker(settings, clock, outbox) -> AsyncIterator[Application]:  # type: ignore[no-untyped-def]
    """Another process on the same database: its own engine and connection pool (and the
    same stand-in for Telegram, so that customers are reachable from it too)."""
    application = await build(settings, clock)
    application.core.notifier.channels["telegram"] = outbox
    yield application
    await application.close()


def both_after_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold each of the next two passes after its last read (the candidates, then today's
    sends for the cap) until the other has read too, so both see the same customers as due
    and under the cap: the worst interleaving, every time. Later passes run freely."""
    barrier = asyncio.Barrier(2)
    waiting = [2]
    sent_today = bot.marketing.triggers.runner._marketing_received

    async def in_step(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = await sent_today(*args, **kwargs)
        if waiting[0]:
            waiting[0] -= 1
            await barrier.wait()
        return found

    monkeypatch.setattr(bot.marketing.triggers.runner, "_marketing_received", in_step)


async def test_two_passes_at_the_same_moment_send_once(
        app, second_worker, chat, only, outbox: Outbox, monkeypatch):
    only("win_back_60")  # a gift: points would be given twice too
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    both_after_reading(monkeypatch)

    first, second = await asyncio.wait_for(asyncio.gather(
        run_pass(app.core, day("2026-05-02")), run_pass(second_worker.core, day("2026-05-02")),
        return_exceptions=True), timeout=10)

    # One pass commits; the other waits on the unique key of trigger_sends, then fails
    # and rolls back its gift and its message with it.
    outcomes = sorted([first, second], key=lambda o: isinstance(o, BaseException))
    [planned], lost = outcomes
    assert (planned.trigger, planned.points) == ("win_back_60", 300)
    assert isinstance(lost, IntegrityError) and "uq_trigger_sends_customer_id" in str(lost)
    [send] = await sends(app)
    assert (send.trigger, send.episode, send.points_given) == ("win_back_60", "2026-03-02", 300)
    assert await count(app, OutboxMessage) == 1
    async with app.core.unit_of_work() as uow:
        gifts = (await uow.session.execute(
            select(PointLot.amount).where(PointLot.reason == "gift"))).scalars().all()
    assert gifts == [300]
    assert await run_pass(second_worker.core, day("2026-05-02")) == []  # and the next pass: nothing


async def test_passes_racing_freely_never_double_send(app, second_worker, chat, only, outbox: Outbox):
    """Without the barrier: whichever way the passes interleave, one send per episode."""
    only("win_back_30", "birthday", "expiry_warning")
    await signed_up(chat, "05.04.1990")
    await buy(app, day("2026-03-02"))
    for moment in ("2026-04-02", "2026-04-03", "2026-05-21"):
        outcomes = await asyncio.wait_for(asyncio.gather(
            run_pass(app.core, day(moment)), run_pass(second_worker.core, day(moment)),
            return_exceptions=True), timeout=10)
        assert all(not isinstance(o, BaseException) or isinstance(o, IntegrityError)
                   for o in outcomes), outcomes
    done = Counter((s.customer_id, s.trigger, s.episode) for s in await sends(app))
    assert set(done) and set(done.values()) == {1}
    assert await count(app, OutboxMessage) == len(done)


async def test_the_scheduled_job_that_loses_the_race_just_logs(
        app, second_worker, chat, clock, only, outbox: Outbox, monkeypatch, caplog):
    only("win_back_60")
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    both_after_reading(monkeypatch)
    caplog.set_level(logging.INFO, logger="bot.marketing.triggers")
    clock.set(day("2026-05-02"))
    both = asyncio.gather(bot.marketing.triggers.scheduled_pass(app.core),
                          bot.marketing.triggers.scheduled_pass(second_worker.core))
    await asyncio.wait_for(both, timeout=10)
    assert "another pass ran at the same moment" in caplog.text
    assert [s.trigger for s in await sends(app)] == ["win_back_60"]
