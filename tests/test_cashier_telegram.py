"""The cashier's checkout through the real Telegram adapter (aiogram against the fake Bot
API on 127.0.0.1): the customer shows the card, an admin scans its QR link, types the
amount, earns points, confirms; the admin sees the result and the customer is told."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.storage.models import Customer, Identity, Purchase
from tests.fakes.telegram_api import callback_update, message_update
from tests.test_telegram_channel import (  # noqa: F401 - api and bot are fixtures
    IVAN,
    Bot,
    api,
    bot,
    payloads,
    sign_up,
)

OWNER = 500  # an admin by the config file, who is not a customer


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The settings the ``bot`` fixture builds its application from, with an admin."""
    return Settings(database={"url": db_url}, card={"secret": "test-signing-key-0123456789"},
                    shop={"name": "Coffee Point"}, admins=[f"telegram:{OWNER}"])


def payload(call, prefix: str) -> str:  # type: ignore[no-untyped-def]
    [found] = [p for p in payloads(call) if p.startswith(prefix)]
    return found


async def test_an_admin_scans_the_card_and_records_a_purchase_in_telegram(bot: Bot, clock):
    await sign_up(bot)  # Ivan: 100 welcome points
    await bot.step(callback_update(6, IVAN, "card"), 1, method="sendPhoto")
    async with bot.app.core.unit_of_work() as uow:
        customer = (await uow.session.execute(select(Customer))).scalar_one()
    token = bot.app.core.services.card_tokens.issue(customer.id, clock.now())
    link = bot.channel.info().deep_link(f"card-{token}")
    assert link == f"https://t.me/loyalty_test_bot?start=card-{token}"
    assert bot.app.core.services.qr._cache.get(link) is not None  # the card's QR

    [screen] = await bot.step(message_update(7, OWNER, f"/start card-{token}", first_name="Olga"), 1)
    assert str(screen.params["chat_id"]) == str(OWNER)
    assert "Покупатель: Ivan" in screen.params["text"]
    assert "Баланс: 100 баллов" in screen.params["text"]

    [draft] = await bot.step(message_update(8, OWNER, "1000", first_name="Olga"), 1)
    assert "Покупка: 1 000,00 ₽" in draft.params["text"].replace("\xa0", " ")
    [summary] = await bot.step(callback_update(9, OWNER, payload(draft, "co.earn:")), 1)
    assert "Будет начислено: 30 баллов" in summary.params["text"]

    # «Recorded» and the result to the admin, the purchase notice to Ivan
    calls = await bot.step(callback_update(10, OWNER, payload(summary, "co.ok:")), 3)
    recorded, result = [c for c in calls if str(c.params["chat_id"]) == str(OWNER)]
    [notice] = [c for c in calls if str(c.params["chat_id"]) == str(IVAN)]
    assert recorded.params["text"] == "✅ Записано."
    assert "Начислено: +30 баллов" in result.params["text"]
    assert "Баланс покупателя: 130 баллов" in result.params["text"]
    assert any(p.startswith("rf.ask:") for p in payloads(result))
    assert "Спасибо за покупку на 1 000,00 ₽" in notice.params["text"].replace("\xa0", " ")
    await bot.quiet()

    async with bot.app.core.unit_of_work() as uow:
        purchase = (await uow.session.execute(select(Purchase))).scalar_one()
        owner = (await uow.session.execute(select(Identity.id).where(
            Identity.channel == "telegram", Identity.external_id == str(OWNER)))).scalar_one()
    assert (purchase.customer_id, purchase.amount, purchase.source) == (customer.id, 100_000, "chat")
    assert purchase.actor_identity_id == owner
