"""Velocity flags: a card used more than five times a day, or a cashier giving more points
than the day's limit, alerts the admins once with the figures and a one-tap block; a blocked
card neither earns nor spends (at the till and in the chat) until an admin unblocks it, a
blocked cashier can't use the checkout; every block is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import Application
from bot.config import Settings
from bot.core.replies import Reply
from bot.storage.models import AuditEntry, Purchase
from tests.chat import OWNER, ChatUser, owner_settings, payloads_of, text_of
from tests.test_cashier_chat import (
    bought,
    button,
    customer_of,
    give_to,
    hire,
    identity_id,
    points_of,
    scan,
)
from tests.till import Till, count, member, new_key


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url, program={"velocity_cashier_points": 300})


@pytest.fixture
async def till(app: Application) -> AsyncIterator[Till]:
    async with TestClient(TestServer(app.web)) as client:
        yield Till(app, client, await new_key(app))


@dataclass
class Messenger:
    """Stands in for Telegram: keeps what the outbox delivers, buttons and all."""

    name: str = "telegram"
    sent: list[tuple[str, list[Reply]]] = field(default_factory=list)

    async def send(self, recipient: str, replies: list[Reply], message_id: int | None = None) -> None:
        self.sent.append((recipient, list(replies)))

    deliver = send

    def alerts(self, to: str = OWNER) -> list[list[Reply]]:
        return [replies for who, replies in self.sent if who == to and "🚩" in text_of(replies)]


@pytest.fixture
def messenger(app: Application) -> Messenger:
    recorder = Messenger()
    app.core.notifier.channels["telegram"] = recorder
    return recorder


@pytest.fixture
async def owner(chat) -> ChatUser:  # type: ignore[no-untyped-def]
    person = chat(OWNER, name="Olga")
    await person.send("/start")
    return person


async def buy(till: Till, card: str, receipt: str, amount: str = "300.00") -> tuple[int, dict]:
    status, body = await till.buy(card=card, amount=amount, receipt_id=receipt)
    await till.app.outbox.send_due()
    return status, body


async def audit(app: Application) -> list[tuple[str, dict]]:
    async with app.core.unit_of_work() as uow:
        rows = (await uow.session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(row.action, row.details) for row in rows]


async def test_the_sixth_purchase_of_a_day_alerts_once_and_the_next_day_starts_afresh(
        app, till, messenger, owner, clock):
    card = (await member(till))["card_number"]
    earned = 0
    for receipt in range(1, 6):
        status, body = await buy(till, card, f"R{receipt}")
        assert status == 201
        earned += body["earned"]
        clock.advance(minutes=20)
    assert messenger.alerts() == []  # five a day is what a regular may do

    status, body = await buy(till, card, "R6")
    assert status == 201
    [alert] = messenger.alerts()
    text = text_of(alert)
    assert "(Anna): 6 покупок за сегодня, больше 5 в день" in text
    assert f"Вместе 1 800,00 ₽; начислено {earned + body['earned']} баллов, списано 0 баллов." in text
    assert [p.partition(":")[0] for p in payloads_of(alert)] == ["blk.card", "cu.show"]
    assert (await buy(till, card, "R7"))[0] == 201
    assert (await buy(till, card, "R6"))[0] == 200  # a retry raises nothing either
    assert len(messenger.alerts()) == 1

    clock.advance(days=1)
    for receipt in range(8, 13):
        await buy(till, card, f"R{receipt}")
    assert len(messenger.alerts()) == 1


async def test_a_blocked_card_neither_earns_nor_spends_until_unblocked(app, till, messenger, owner):
    card = (await member(till, points=500, purchases=3))["card_number"]
    for receipt in range(6):
        await buy(till, card, f"R{receipt}")
    [alert] = messenger.alerts()

    blocked = text_of(await owner.press(button(alert, "blk.card:")))
    assert "⛔ Карта Anna (" in blocked and "заблокирована" in blocked
    status, body = await till.buy(card=card, amount="500.00", receipt_id="R9", spend_points=10)
    assert (status, body["error"]) == (423, "card_blocked")
    status, body = await till.card(card, amount="500.00")
    assert (status, body["blocked"], body["spend_cap"]) == (200, True, 0)
    assert await count(app, Purchase) == 6
    assert (await buy(till, card, "R3"))[0] == 200  # a receipt recorded before still replays
    screen = text_of(await owner.press(button(alert, "cu.show:")))
    assert "⛔ Заблокирована с" in screen

    assert "разблокирована" in text_of(await owner.press(button(owner.last, "blk.card-off:")))
    assert (await buy(till, card, "R9"))[0] == 201
    assert [(action, details["card"]) for action, details in await audit(app)] == [
        ("block_card", card), ("unblock_card", card)]


async def test_the_cashier_scanning_a_blocked_card_is_told_to_sell_without_it(
        app, chat, clock, messenger, owner):
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock, language="en")
    await scan(ivan, kate)
    draft = await kate.press(button(await kate.send("1000"), "co.earn:"))
    await owner.press(button(await owner.send("/customer Ivan"), "blk.card:"))  # the one found

    answer = text_of(await kate.press(button(draft, "co.ok:")))  # blocked while the draft was open
    assert "An administrator blocked this card" in answer and "without the card" in answer
    assert await count(app, Purchase) == 0
    again = text_of(await scan(ivan, kate))
    assert "Customer: Ivan Petrov" in again and "An administrator blocked this card" in again
    assert "Type the purchase amount" not in again
    assert "This is not a number" not in text_of(await kate.send("1000"))  # no amount step open
    assert await count(app, Purchase) == 0


async def test_a_cashier_giving_too_many_points_alerts_and_can_be_blocked(
        app, chat, clock, messenger, owner):
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock)
    await scan(ivan, kate)
    await bought(kate, "5000")  # +150 points (3 %)
    await scan(ivan, kate)
    await bought(kate, "5000")  # 300: not more than the limit
    assert messenger.alerts() == []
    await scan(ivan, kate)
    await bought(kate, "1000")  # 330
    [alert] = messenger.alerts()
    assert "🚩 Ivan Petrov" not in text_of(alert)  # the cashier is named, not the customer
    assert "🚩 Telegram 7: выдано 330 баллов за сегодня (3 покупки), больше 300 баллов" in text_of(alert)

    assert "⛔" in text_of(await owner.press(button(alert, "blk.staff:")))
    refused = text_of(await kate.send("/checkout"))
    assert "Администратор приостановил ваш доступ к кассе" in refused
    staff = await owner.send("/staff")
    assert "⛔ заблокирован" in text_of(staff)
    await owner.press(button(staff, "blk.staff-off:"))
    assert "номер карты" in text_of(await kate.send("/checkout"))
    assert [action for action, _ in await audit(app)] == ["block_cashier", "unblock_cashier"]


async def test_admins_are_not_blocked_and_buttons_from_others_change_nothing(
        app, chat, clock, messenger, owner):
    await hire(app, chat, clock, external_id="8", role="admin")
    kate = await hire(app, chat, clock)
    ivan = chat("42")
    await ivan.sign_up()
    admin_id = await identity_id(app, "8")
    refused = text_of(await owner.press(f"blk.staff:{admin_id}"))
    assert "Заблокировать можно только кассира" in refused
    customer = await customer_of(app, "42")
    for person in (kate, ivan):
        await person.press(f"blk.card:{customer}")
        await person.press(f"blk.staff:{await identity_id(app, '7')}")
    assert await audit(app) == []
    assert "номер карты" in text_of(await kate.send("/checkout"))


async def test_the_alert_speaks_the_admins_language(app, till, messenger, chat):
    owner = chat(OWNER, language="en")
    await owner.send("/start")
    card = (await member(till))["card_number"]
    for receipt in range(6):
        await buy(till, card, f"R{receipt}")
    [alert] = messenger.alerts()
    assert "(Anna): 6 purchases today, more than the 5 a day that alerts." in text_of(alert)
    assert "⛔ Block the card" in [b.label for reply in alert for row in reply.buttons for b in row]


async def test_a_reward_is_not_given_from_a_card_blocked_meanwhile(app, chat, clock, messenger, owner):
    ivan = chat("42")
    await ivan.sign_up()
    await give_to(app, "42", 400)
    kate = await hire(app, chat, clock)
    rewards = await kate.press(button(await scan(ivan, kate), "co.gifts:"))
    confirm = await kate.press(payloads_of(rewards)[0])
    await owner.press(button(await owner.send("/customer Ivan"), "blk.card:"))

    assert "заблокировал эту карту" in text_of(await kate.press(button(confirm, "co.give:")))
    assert await points_of(app, "42") == 500
