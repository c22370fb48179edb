"""Upkeep jobs: expired points are recorded as burnt; old inbound event ids and old WhatsApp
message ids are forgotten; so are expired channel notes and published pictures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.scheduler import build_scheduler
from bot.scheduler.housekeeping import expire_points, forget_old_event_ids
from bot.storage.models import (
    ChannelNote,
    Identity,
    OutboxMessage,
    ProcessedEvent,
    PublishedPicture,
    WebMessage,
    WhatsAppSend,
)
from tests.chat import text_of


async def test_expired_welcome_bonus_is_recorded_as_burnt(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    clock.advance(days=91)
    assert await expire_points(app.core) == 100
    assert await expire_points(app.core) == 0  # once
    assert "−100 сгорание" in text_of(await ivan.press("balance"))


async def test_old_event_ids_are_forgotten(app, chat, clock):
    await chat("42").send("/start", event_id="7")
    clock.advance(days=3)
    await chat("42").send("/menu", event_id="8")
    await forget_old_event_ids(app.core)
    async with app.core.unit_of_work() as uow:
        ids = (await uow.session.execute(select(ProcessedEvent.event_id))).scalars().all()
    assert ids == ["8"]


async def test_old_web_chat_history_is_forgotten(app, chat, clock):
    await chat("42").send("/start")
    async with app.core.unit_of_work() as uow:
        identity = (await uow.session.execute(select(Identity.id))).scalar_one()
        for days_ago in (200, 100):
            uow.session.add(WebMessage(identity_id=identity, author="bot", body={"type": "text"},
                                       created_at=clock.now() - timedelta(days=days_ago)))
        await uow.commit()
    await forget_old_event_ids(app.core)
    async with app.core.unit_of_work() as uow:
        kept = (await uow.session.execute(select(WebMessage.created_at))).scalars().all()
    assert kept == [clock.now() - timedelta(days=100)]


def test_the_jobs_are_scheduled_by_id(app, clock):
    daily = {"expire-points", "forget-event-ids", "check-day-book", "trigger-pass", "hourly-triggers",
             "broadcasts", "segment-snapshot", "segment-snapshot-catch-up"}
    clock.set(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))  # 09:00 in Moscow, before the pass at 10:05
    assert {job.id for job in build_scheduler(app.core).get_jobs()} == daily
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # 12:00: today's pass may have been missed
    jobs = {job.id: job for job in build_scheduler(app.core).get_jobs()}
    assert set(jobs) == daily | {"trigger-pass-catch-up"}
    assert str(jobs["trigger-pass-catch-up"].trigger) == "date[2026-03-02 12:00:30 MSK]"
    assert str(jobs["hourly-triggers"].trigger) == "cron[minute='35']"
    assert str(jobs["segment-snapshot"].trigger) == "cron[hour='4', minute='45']"
    assert str(jobs["segment-snapshot-catch-up"].trigger) == "date[2026-03-02 12:00:30 MSK]"


async def test_old_whatsapp_message_ids_are_forgotten(app, clock):
    async with app.core.unit_of_work() as uow:
        for wamid, age in (("wamid.old", 8), ("wamid.new", 6)):
            at = clock.now() - timedelta(days=age)
            message = OutboxMessage(channel="whatsapp", external_id="79001234567",
                                    category="marketing", payload=[], status="sent", attempts=1,
                                    not_before=at, created_at=at)
            uow.session.add(message)
            await uow.session.flush()
            uow.session.add(WhatsAppSend(wamid=wamid, outbox_message_id=message.id, created_at=at))
        await uow.commit()
    await forget_old_event_ids(app.core)
    async with app.core.unit_of_work() as uow:
        kept = (await uow.session.execute(select(WhatsAppSend.wamid))).scalars().all()
    assert kept == ["wamid.new"]


async def test_people_who_never_agreed_to_join_are_forgotten_after_a_month(app, chat, clock):
    from bot.console.invites import create_invite

    await chat("42").send("/start")  # a stranger: wrote once, never consented
    await chat("43").sign_up(phone="+79001112233")  # a member
    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    await chat("44", name="Kate").send(f"/start {payload}")  # staff, not a customer
    clock.advance(days=31)
    await forget_old_event_ids(app.core)
    async with app.core.unit_of_work() as uow:
        left = (await uow.session.execute(select(Identity.external_id).order_by(
            Identity.external_id))).scalars().all()
    assert left == ["43", "44"]


async def test_expired_notes_and_pictures_are_pruned_and_the_rest_kept(app, clock):
    now = clock.now()
    async with app.core.unit_of_work() as uow:
        await uow.channel_notes.keep("whatsapp", "menu:1", [["Карта", "card"]], now + timedelta(hours=1))
        await uow.channel_notes.keep("whatsapp", "menu:2", [["Карта", "card"]], now - timedelta(hours=1))
        await uow.published_pictures.keep("a" * 32, b"kept", now + timedelta(hours=1))
        await uow.published_pictures.keep("b" * 32, b"gone", now - timedelta(hours=1))
        await uow.commit()
    await forget_old_event_ids(app.core)
    async with app.core.unit_of_work() as uow:
        notes = (await uow.session.execute(select(ChannelNote.key))).scalars().all()
        pictures = (await uow.session.execute(select(PublishedPicture.name))).scalars().all()
        assert notes == ["menu:1"] and pictures == ["a" * 32]
        assert await uow.channel_notes.read("whatsapp", "menu:1", now + timedelta(hours=2)) is None
