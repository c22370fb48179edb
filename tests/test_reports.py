"""Trigger reports from hand-made sends: held-out rows, outbox statuses, purchases inside and
outside the attribution window give exact numbers, in the report, /triggers and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_schema_validator import OAS31Validator

from bot.api.openapi import document
from bot.app import build
from bot.config import Settings
from bot.marketing.reports import Group, TriggerStats, trigger_report
from bot.storage.models import Customer, OutboxMessage, Outlet, PointOperation, Purchase, TriggerSend
from tests.chat import text_of
from tests.till import Till, new_key

OWNER = "1"  # telegram:1 is an admin by the config file
SENT_AT = datetime(2026, 4, 2, 8, 5, tzinfo=UTC)
DAY = timedelta(days=1)

WIN_BACK = TriggerStats(
    "win_back_30", eligible=7, sent=4, held_out=3, delivered=1, failed=2, points_given=400,
    recipients=Group(size=4, came_back=2, purchases=2, revenue=600_00, points_spent=50),
    holdout=Group(size=3, came_back=1, purchases=1, revenue=300_00, points_spent=0))
BIRTHDAY = TriggerStats(
    "birthday", eligible=2, sent=1, held_out=1, delivered=1, failed=0, points_given=200,
    recipients=Group(size=1, came_back=0, purchases=0, revenue=0, points_spent=0),
    holdout=Group(size=1, came_back=0, purchases=0, revenue=0, points_spent=0))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database={"url": db_url}, card={"secret": "test-signing-key-0123456789"},
                    shop={"name": "Coffee Point"}, admins=[f"telegram:{OWNER}"])


class Shop:
    """Writes the rows a trigger pass, the outbox and the till would have written."""

    def __init__(self, uow, outlet_id: int) -> None:  # type: ignore[no-untyped-def]
        self.uow, self.outlet_id, self.n = uow, outlet_id, 0

    async def customer(self) -> int:
        self.n += 1
        customer = Customer(card_number=f"4000{self.n:08d}", consent_at=SENT_AT - 90 * DAY,
                            registered_at=SENT_AT - 90 * DAY, created_at=SENT_AT - 90 * DAY)
        self.uow.session.add(customer)
        await self.uow.session.flush()
        return customer.id

    async def send(self, trigger: str, status: str | None, points: int = 0,
                   at: datetime = SENT_AT) -> int:
        """A send row: ``status`` of its outbox message, or None for the holdout."""
        customer_id = await self.customer()
        message_id = None
        if status is not None:
            message = OutboxMessage(channel="telegram", external_id=str(customer_id),
                                    category="marketing", payload=[], status=status, attempts=1,
                                    not_before=at, created_at=at)
            self.uow.session.add(message)
            await self.uow.session.flush()
            message_id = message.id
        self.uow.session.add(TriggerSend(customer_id=customer_id, trigger=trigger, episode="e",
                                         held_out=status is None, outbox_message_id=message_id,
                                         points_given=points, created_at=at))
        return customer_id

    def buy(self, customer_id: int, at: datetime, amount: int, refunded: int = 0) -> None:
        self.n += 1
        self.uow.session.add(Purchase(
            outlet_id=self.outlet_id, receipt_id=f"r{self.n}", customer_id=customer_id,
            amount=amount, points_spent=0, points_earned=0, refunded_amount=refunded,
            balance_after=0, request_hash="x", source="pos", occurred_at=at, created_at=at))

    def points(self, customer_id: int, at: datetime, amount: int, kind: str, reason: str) -> None:
        self.uow.session.add(PointOperation(customer_id=customer_id, kind=kind, reason=reason,
                                            amount=amount, created_at=at))


async def fill(app) -> None:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        outlet = Outlet(name="Corner", created_at=SENT_AT - 90 * DAY)
        uow.session.add(outlet)
        await uow.session.flush()
        shop = Shop(uow, outlet.id)
        # recipients of the first win-back
        came = await shop.send("win_back_30", "sent", 100)
        shop.buy(came, SENT_AT + 3 * DAY, 500_00, refunded=100_00)  # in: 400.00 net
        shop.buy(came, SENT_AT + 20 * DAY, 1000_00)  # after the window
        shop.points(came, SENT_AT + 3 * DAY, -50, "spend", "purchase")
        shop.points(came, SENT_AT, 100, "earn", "gift")  # the gift itself is not "spent back"
        shop.points(came, SENT_AT + 3 * DAY, -7, "expire", "expiry")
        before = await shop.send("win_back_30", "failed", 100)
        shop.buy(before, SENT_AT - DAY, 700_00)  # before the send
        edge = await shop.send("win_back_30", "blocked", 100)
        shop.buy(edge, SENT_AT + 14 * DAY, 200_00)  # the last moment of the window
        shop.points(edge, SENT_AT + 15 * DAY, -30, "spend", "purchase")  # after it
        await shop.send("win_back_30", "pending", 100)
        # its holdout
        held = await shop.send("win_back_30", None)
        shop.buy(held, SENT_AT + DAY, 300_00)
        await shop.send("win_back_30", None)
        late = await shop.send("win_back_30", None)
        shop.buy(late, SENT_AT + 15 * DAY, 300_00)
        # before the period (21 February): not counted
        old = await shop.send("win_back_30", "sent", 100, at=SENT_AT - 40 * DAY)
        shop.buy(old, SENT_AT - 39 * DAY, 900_00)
        # a birthday: delivered, nobody came (a receipt refunded in full is no visit)
        greeted = await shop.send("birthday", "sent", 200)
        shop.buy(greeted, SENT_AT + 2 * DAY, 300_00, refunded=300_00)
        await shop.send("birthday", None)
        await uow.commit()


@pytest.fixture
async def shop(app) -> None:  # type: ignore[no-untyped-def]
    await fill(app)


async def test_the_report_counts_exactly(app, shop):
    async with app.core.unit_of_work() as uow:
        report = await trigger_report(uow, datetime(2026, 4, 1, tzinfo=UTC),
                                      datetime(2026, 5, 1, tzinfo=UTC))
    assert report == [BIRTHDAY, WIN_BACK]
    win_back = report[1]
    assert win_back.recipients.conversion == Decimal("50.0")
    assert win_back.holdout.conversion == Decimal("33.3")
    assert win_back.uplift == Decimal("16.7")
    assert win_back.recipients.average_check == 300_00
    assert report[0].uplift == 0


async def test_the_same_numbers_on_each_database(any_db_url, clock):
    app = await build(Settings(database={"url": any_db_url}, card={"secret": "k" * 32}), clock)
    try:
        await fill(app)
        async with app.core.unit_of_work() as uow:
            assert await trigger_report(uow, datetime(2026, 4, 1, tzinfo=UTC),
                                        datetime(2026, 5, 1, tzinfo=UTC)) == [BIRTHDAY, WIN_BACK]
    finally:
        await app.close()


async def test_an_empty_period_and_a_shorter_window(app, shop):
    async with app.core.unit_of_work() as uow:
        assert await trigger_report(uow, datetime(2026, 5, 1, tzinfo=UTC),
                                    datetime(2026, 6, 1, tzinfo=UTC)) == []
        [_, win_back] = await trigger_report(uow, datetime(2026, 4, 1, tzinfo=UTC),
                                             datetime(2026, 5, 1, tzinfo=UTC), window_days=2)
    assert (win_back.recipients.came_back, win_back.holdout.came_back) == (0, 1)


async def test_an_admin_reads_the_report_in_the_chat(app, chat, clock, shop):
    clock.set(SENT_AT + 20 * DAY)
    text = text_of(await chat(OWNER).send("/triggers"))
    assert ("Триггеры за последние 30 дней (возвратом считается покупка за 14 дней после "
            "отправки)") in text
    assert "«Возврат, 1-й этап»" in text and "«День рождения»" in text
    assert ("Отобрано 7: отправлено 4, контрольная группа 3; доставлено 1, "
            "ошибка или блокировка 2") in text
    assert "Вернулись: 2 из 4 (50 %), в контрольной группе 1 из 3 (33,3 %); прирост +16,7 п. п." in text
    assert "Выручка 600,00 ₽ за 2 покупки, средний чек 300,00 ₽" in text
    assert "Подарено баллов 400, потрачено обратно 50" in text
    assert "600,00" in text and "300,00" in text
    assert "Вернулись: 0 из 1 (0 %)" in text
    one_day = text_of(await chat(OWNER).send("/triggers 1"))
    assert "Триггеры за последний 1 день" in one_day and "триггеры не срабатывали" in one_day
    assert "от 1 до 366" in text_of(await chat(OWNER).send("/triggers lots"))


async def test_anyone_else_is_refused_politely(app, chat, shop):
    ivan = chat("42")
    await ivan.sign_up()
    text = text_of(await ivan.send("/triggers"))
    assert text == "Извините, это может сделать только администратор."


@pytest.fixture
async def till(app) -> AsyncIterator[Till]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(app.web)) as client:
        yield Till(app, client, await new_key(app, role="admin"))


async def test_the_api_answers_the_same_numbers(till, shop):
    status, body = await till.call("GET", "/api/v1/reports/triggers?from=2026-04-01&to=2026-04-30")
    assert status == 200, body
    spec = document()
    OAS31Validator({"$ref": "#/components/schemas/TriggerReport",
                    "components": spec["components"]}).validate(body)
    assert (body["from"], body["to"], body["window_days"]) == ("2026-04-01", "2026-04-30", 14)
    birthday, win_back = body["triggers"]
    assert birthday["trigger"] == "birthday" and birthday["recipients"]["size"] == 1
    assert win_back == {
        "trigger": "win_back_30", "eligible": 7, "sent": 4, "held_out": 3, "delivered": 1,
        "failed": 2, "paid": 0, "waiting": 0, "points_given": 400, "uplift": 16.7,
        "recipients": {"size": 4, "came_back": 2, "conversion": 50.0, "purchases": 2,
                       "revenue": "600.00", "average_check": "300.00", "points_spent": 50},
        "holdout": {"size": 3, "came_back": 1, "conversion": 33.3, "purchases": 1,
                    "revenue": "300.00", "average_check": "300.00", "points_spent": 0}}
    status, body = await till.call("GET", "/api/v1/reports/triggers?from=2026-02-21&to=2026-02-21")
    assert status == 200 and [t["trigger"] for t in body["triggers"]] == ["win_back_30"]


async def test_the_api_refuses_bad_dates_and_keys(till, shop):
    for query in ("", "?from=2026-04-01", "?from=2026-04-01&to=30.04.2026",
                  "?from=2026-04-30&to=2026-04-01", "?from=20260401&to=2026-04-30",
                  "?from=2026-04-01&to=2026-W18-4", "?from=0001-01-01&to=0001-01-01",
                  "?from=2026-04-01&to=9999-12-31"):
        status, body = await till.call("GET", f"/api/v1/reports/triggers{query}")
        assert (status, body["error"]) == (422, "invalid_date"), query
    status, body = await till.call("GET", "/api/v1/reports/triggers?from=2026-04-01&to=2026-04-30",
                                   key="not-a-key")
    assert (status, body["error"]) == (401, "unauthorized")
    till_key = await new_key(till.app)  # a till's own key does the checkout, not the reports
    status, body = await till.call("GET", "/api/v1/reports/triggers?from=2026-04-01&to=2026-04-30",
                                   key=till_key)
    assert (status, body["error"]) == (403, "forbidden")
    assert "keys create" in body["message"]
