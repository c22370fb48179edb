"""One language for everything said to a customer, replies and the messages the program
starts alike: the one chosen in Settings, else their messenger's, else the shop's default."""

from __future__ import annotations

from sqlalchemy import select

from bot.handlers.notices import purchase_notifications
from bot.loyalty.checkout import Checkout
from bot.marketing.triggers import ORDER, run_pass
from bot.storage.models import Customer
from tests.chat import text_of
from tests.test_cashier_chat import Outbox, outbox  # noqa: F401 - outbox is a fixture


async def bought(app, clock) -> None:  # type: ignore[no-untyped-def]
    """A purchase at a till and its notice to the customer, as the POS API records them."""
    async with app.core.unit_of_work() as uow:
        customer = (await uow.session.execute(select(Customer))).scalar_one()
        result = await Checkout(uow, clock, app.settings.program).purchase(
            customer_id=customer.id, outlet_id=(await uow.outlets.default()).id,
            receipt_id="r1", amount=500_00)
        await app.core.notifier.enqueue(uow, purchase_notifications(result, app.settings),
                                        clock.now())
        await uow.commit()
    await app.outbox.send_due()


def only_win_back(settings) -> None:  # type: ignore[no-untyped-def]
    settings.triggers.holdout_percent = 0
    for name in ORDER:
        getattr(settings.triggers, name).enabled = name == "win_back_30"


async def test_a_messenger_in_english_gets_english_from_the_program_too(app, chat, clock, settings,
                                                                        outbox: Outbox):
    only_win_back(settings)
    anna = chat("42", language="en", name="Anna")  # never opened Settings
    assert text_of(await anna.send("/start")).startswith("Hello! This is the loyalty program")
    await anna.sign_up()
    await bought(app, clock)
    assert outbox.to("42")[-1].startswith("Thank you for your purchase")  # in English
    clock.advance(days=31, hours=2)
    assert await run_pass(app.core, clock.now())
    await app.outbox.send_due()
    assert outbox.to("42")[-1].startswith("Anna, we miss you!")


async def test_the_language_chosen_in_settings_wins_over_the_messenger(app, chat, clock, settings,
                                                                       outbox: Outbox):
    only_win_back(settings)
    anna = chat("42", language="en", name="Anna")
    await anna.sign_up()
    await anna.press("settings:lang:ru")
    await bought(app, clock)
    assert outbox.to("42")[-1].startswith("Спасибо за покупку")
    clock.advance(days=31, hours=2)
    assert await run_pass(app.core, clock.now())
    await app.outbox.send_due()
    assert outbox.to("42")[-1].startswith("Anna, мы скучаем!")


async def test_no_language_anywhere_is_the_shops_default(app, chat, clock, outbox: Outbox):
    ivan = chat("42", language=None)
    await ivan.sign_up()
    await bought(app, clock)
    assert outbox.to("42")[-1].startswith("Спасибо за покупку")
