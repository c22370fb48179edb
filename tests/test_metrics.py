"""/metrics as Prometheus scrapes it: real HTTP against the application's own aiohttp app.
Chat events (answered, redelivered, failed), a POS purchase whose notice waits in the
outbox and is then sent, a 429 from the fake Bot API, a trigger pass; the token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select, update

from bot.app import Application, build
from bot.config import DatabaseSettings, MetricsSettings, Settings
from bot.core.clock import FrozenClock, SystemClock
from bot.marketing.triggers import ORDER, run_pass
from bot.storage.models import OutboxMessage
from tests.chat import TELEGRAM_LIKE, ChatUser, text_of
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_outbox import queue
from tests.test_telegram_channel import api, telegram_settings  # noqa: F401 - api is a fixture
from tests.till import PHONE, Recorder, Till, new_key

TOKEN = "scrape-me-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_token(settings: Settings, token: str | None = TOKEN) -> Settings:
    return settings.model_copy(update={"metrics": MetricsSettings(
        token=SecretStr(token) if token is not None else None)})


@dataclass
class Scraper:
    client: TestClient

    async def get(self, token: str | None = TOKEN) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        response = await self.client.get("/metrics", headers=headers)
        return response.status, await response.text()

    async def samples(self) -> Samples:
        response = await self.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(await response.text())
                for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
async def served(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[Application, Scraper]]:
    application = await build(with_token(settings), clock)
    try:
        async with TestClient(TestServer(application.web)) as client:
            yield application, Scraper(client)
    finally:
        await application.close()


async def pending_rows(app: Application) -> int:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(func.count()).select_from(OutboxMessage)
                                          .where(OutboxMessage.status == "pending"))).scalar_one()


def person(app: Application, external_id: str = "42") -> ChatUser:
    return ChatUser(app.core, TELEGRAM_LIKE, external_id)  # the outbox is flushed by the test


async def test_chat_events_a_purchase_and_its_notice_are_counted(served, monkeypatch):
    app, scraper = served
    messenger = Recorder()
    app.core.notifier.channels["telegram"] = messenger  # the outbox's registry too
    ivan = person(app)
    await ivan.sign_up(phone=PHONE)  # five events
    await ivan.send("hello", event_id="upd-1")
    assert await ivan.send("hello", event_id="upd-1") == []  # the messenger delivered it twice

    async def broken(*_args: object) -> None:
        raise RuntimeError("a handler fails")

    monkeypatch.setattr(app.core.router, "dispatch", broken)
    assert "что-то пошло не так" in text_of(await ivan.send("help"))
    monkeypatch.undo()

    till = Till(app, scraper.client, await new_key(app))
    status, card = await till.enrol(phone=PHONE)
    assert status == 200
    assert (await till.buy(card=card["card_number"], amount="500.00", receipt_id="R1"))[0] == 201

    samples = await scraper.samples()
    events = "loyalty_events_handled_total"
    assert value(samples, events, channel="telegram", outcome="answered") == 6
    assert value(samples, events, channel="telegram", outcome="duplicate") == 1
    assert value(samples, events, channel="telegram", outcome="failed") == 1
    assert value(samples, "loyalty_event_handling_seconds_count", channel="telegram") == 8
    pending = await pending_rows(app)
    assert pending >= 1  # the purchase's notice at least, not sent yet
    assert value(samples, "loyalty_outbox_queue_depth", channel="telegram",
                 status="pending") == pending
    assert value(samples, "loyalty_outbox_sent_total", channel="telegram") is None

    assert await app.outbox.send_due() == pending
    samples = await scraper.samples()
    assert len(messenger.sent) == pending
    assert value(samples, "loyalty_outbox_sent_total", channel="telegram") == pending
    assert value(samples, "loyalty_outbox_queue_depth", channel="telegram",
                 status="pending") is None  # the queue is empty: no stale figure
    assert all("42" not in dict(labels).values() for _, labels in samples)  # nobody's id


async def test_a_429_and_the_send_after_it_are_counted(settings, api: FakeBotAPI):
    application = await build(telegram_settings(with_token(settings), api), SystemClock())
    try:
        async with TestClient(TestServer(application.web)) as client:
            await queue(application, 42)
            api.fail_next("sendMessage", 429, parameters={"retry_after": 1})
            await application.outbox.start()
            await api.wait_for("sendMessage", 2, timeout=5)  # refused, then sent
            await application.outbox.stop()
            samples = await Scraper(client).samples()
    finally:
        await application.close()
    assert value(samples, "loyalty_outbox_retry_later_total", channel="telegram") == 1
    assert value(samples, "loyalty_outbox_sent_total", channel="telegram") == 1


async def test_a_trigger_pass_is_timed_and_its_messages_counted(served):
    app, scraper = served
    app.core.notifier.channels["telegram"] = Recorder()  # somewhere to send the greeting
    for name in ORDER:
        getattr(app.core.services.settings.triggers, name).enabled = name == "birthday"
    app.core.services.settings.triggers.holdout_percent = 0
    await person(app).sign_up(birthday="14.03.1990")
    await person(app, "43").sign_up(phone="+79001234568", birthday="20.03.1990")
    samples = await scraper.samples()
    assert value(samples, "loyalty_trigger_pass_seconds_count") == 0

    await run_pass(app.core, datetime(2026, 3, 11, 8, 5, tzinfo=UTC), send=False)  # a preview
    await run_pass(app.core, datetime(2026, 3, 11, 8, 5, tzinfo=UTC))  # Ivan's birthday is near
    samples = await scraper.samples()
    assert value(samples, "loyalty_trigger_pass_seconds_count") == 1
    assert value(samples, "loyalty_trigger_messages_queued_total", trigger="birthday") == 1
    assert value(samples, "loyalty_trigger_messages_queued_total", trigger="win_back_30") is None


async def test_the_queue_depth_is_the_database_s_on_both_databases(settings, any_db_url, clock):
    on_database = settings.model_copy(update={"database": DatabaseSettings(url=any_db_url)})
    application = await build(with_token(on_database), clock)
    try:
        application.core.notifier.channels["telegram"] = Recorder()
        await queue(application, 42, 43, 44, 45)
        async with application.core.unit_of_work() as uow:
            await uow.session.execute(update(OutboxMessage).where(OutboxMessage.external_id == "43")
                                      .values(status="waiting"))
            await uow.session.execute(update(OutboxMessage).where(OutboxMessage.external_id == "44")
                                      .values(status="sent"))
            await uow.commit()
        async with TestClient(TestServer(application.web)) as client:
            samples = await Scraper(client).samples()
    finally:
        await application.close()
    depth = {dict(labels)["status"]: count for (name, labels), count in samples.items()
             if name == "loyalty_outbox_queue_depth"}
    assert depth == {"pending": 2, "waiting": 1}  # what was sent is no longer queued


async def test_metrics_answer_only_to_the_token(served):
    _app, scraper = served
    assert (await scraper.get(None))[0] == 401
    assert (await scraper.get("wrong"))[0] == 401
    assert (await scraper.get(TOKEN[:-1]))[0] == 401
    response = await scraper.client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    status, text = await scraper.get()
    assert status == 200 and "loyalty_events_handled" in text


async def test_without_a_token_there_is_no_metrics_page(settings, clock):
    application = await build(settings, clock)
    try:
        async with TestClient(TestServer(application.web)) as client:
            assert (await client.get("/metrics")).status == 404
            assert (await client.get("/healthz")).status == 200
    finally:
        await application.close()


async def test_each_application_counts_its_own(served, settings, clock):
    _app, scraper = served
    other = await build(with_token(settings), clock)  # its own registry: no name clash
    try:
        await ChatUser(other.core, TELEGRAM_LIKE, "42").send("/start")
        async with TestClient(TestServer(other.web)) as client:
            theirs = await Scraper(client).samples()
    finally:
        await other.close()
    ours = await scraper.samples()
    events = "loyalty_events_handled_total"
    assert value(theirs, events, channel="telegram", outcome="answered") == 1
    assert value(ours, events, channel="telegram", outcome="answered") is None
