"""Rewards: the catalog of gifts paid with points, marked against the customer's balance."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Reward
from bot.loyalty.ledger import Ledger
from tests.chat import payloads_of, text_of
from tests.test_feedback import customer_by_phone


async def give(app, points: int) -> None:  # type: ignore[no-untyped-def]
    customer = await customer_by_phone(app)
    async with app.core.unit_of_work() as uow:
        ledger = Ledger(uow, app.core.services.clock)
        await ledger.earn(customer.id, points, "gift", timedelta(days=30))
        await uow.commit()


async def test_the_catalog_shows_what_the_balance_reaches_and_what_is_missing(app, chat):
    ivan = chat("42")
    await ivan.sign_up()  # 100 welcome points
    assert "rewards" in payloads_of(await ivan.send("/menu"))
    text = text_of(await ivan.press("rewards"))
    assert "Ваш баланс: 100 баллов" in text
    assert "▫️ Чашка кофе — 150 баллов (не хватает 50 баллов)" in text
    assert "▫️ Десерт — 250 баллов (не хватает 150 баллов)" in text
    assert "покажите карту на кассе и попросите его у кассира" in text

    await give(app, 60)
    text = text_of(await ivan.send("/rewards"))
    assert "✅ Чашка кофе — 150 баллов" in text
    assert "▫️ Десерт — 250 баллов (не хватает 90 баллов)" in text


async def test_the_catalog_in_english_and_with_the_shops_own_gifts(app, chat, settings):
    settings.program.rewards = [Reward(code="wash", name="Car wash", points=101),
                                Reward(code="tea", name="Green tea", points=50)]
    ivan = chat("42", language="en")
    await ivan.sign_up()
    text = text_of(await ivan.press("rewards"))
    assert text.index("Green tea") < text.index("Car wash")  # cheapest first
    assert "✅ Green tea — 50 points" in text
    assert "▫️ Car wash — 101 points (you need 1 more point)" in text


async def test_an_empty_catalog_says_so(app, chat, settings):
    settings.program.rewards = []
    ivan = chat("42")
    await ivan.sign_up()
    assert "В каталоге пока нет подарков" in text_of(await ivan.press("rewards"))
