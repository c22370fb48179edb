"""One customer in two messengers: the same card whichever they write from, and the
program's messages go to the messenger they chose in Settings (else the one used last)."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.replies import Text
from bot.delivery.notify import Notification
from bot.storage.models import Customer
from tests.chat import TELEGRAM_LIKE, channel_info, payloads_of, text_of

VIBER_LIKE = channel_info("viber", verified_contacts=True)


async def two_messengers(chat, clock):  # type: ignore[no-untyped-def]
    """Ivan joined in Telegram, then (later) shared the same phone in Viber."""
    telegram = chat("42", TELEGRAM_LIKE)
    await telegram.sign_up()
    clock.advance(minutes=5)  # "last seen" is kept to the minute
    viber = chat("v-42", VIBER_LIKE)
    await viber.send("/start")
    await viber.press("consent:yes")
    linked = await viber.share_contact("+79001234567")
    assert "Этот мессенджер теперь привязан к вашей карте" in text_of(linked)
    return telegram, viber


async def queued_channel(app) -> str:  # type: ignore[no-untyped-def]
    """Where a message to Ivan goes now."""
    async with app.core.unit_of_work() as uow:
        customer = (await uow.session.execute(select(Customer))).scalar_one()
        [row] = await app.core.notifier.enqueue_one(
            uow, Notification(lambda t: [Text("hello")], customer_id=customer.id),
            app.core.services.clock.now())
        await uow.session.rollback()
    return row.channel


async def test_the_same_card_in_both_and_the_choice_in_settings(app, chat, clock, monkeypatch):
    monkeypatch.setitem(app.core.notifier.channels, "telegram", object())
    monkeypatch.setitem(app.core.notifier.channels, "viber", object())
    telegram, viber = await two_messengers(chat, clock)
    async with app.core.unit_of_work() as uow:
        assert len((await uow.session.execute(select(Customer))).scalars().all()) == 1
    assert await queued_channel(app) == "viber"  # used last
    screen = await viber.send("/settings")
    assert "settings:via:telegram" in payloads_of(screen)
    assert "settings:via:viber" in payloads_of(screen)
    chosen = await viber.press("settings:via:telegram")
    assert any(button.label == "✓ Telegram" for reply in chosen for row in reply.buttons
               for button in row)
    clock.advance(minutes=5)
    await viber.send("/balance")  # Viber is used last now, the choice still holds
    assert await queued_channel(app) == "telegram"
    await telegram.press("settings:via:")  # back to "the one I used last"
    clock.advance(minutes=5)
    await viber.send("/balance")
    assert await queued_channel(app) == "viber"


async def test_one_messenger_shows_no_choice(app, chat):
    ivan = chat("42", TELEGRAM_LIKE)
    await ivan.sign_up()
    screen = await ivan.send("/settings")
    assert not [p for p in payloads_of(screen) if p.startswith("settings:via:")]
    refused = await ivan.press("settings:via:viber")  # a stale or forged button
    assert not [p for p in payloads_of(refused) if p.startswith("settings:via:")]
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(Customer))).scalar_one().preferred_channel is None
