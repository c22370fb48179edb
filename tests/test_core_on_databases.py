"""The whole conversation on each database: what runs on SQLite must run on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import build
from bot.config import Settings
from bot.storage.models import Customer, Identity
from tests.chat import TELEGRAM_LIKE, WEB_LIKE, ChatUser, channel_info, text_of


async def test_sign_up_link_and_erase(any_db_url, clock):
    settings = Settings(database={"url": any_db_url}, card={"secret": "k" * 32})
    app = await build(settings, clock)
    try:
        ivan = ChatUser(app.core, TELEGRAM_LIKE, "42")
        assert "Добро пожаловать" in text_of(await ivan.sign_up(phone="+79001234567"))
        assert "Добро пожаловать" in text_of(
            await ChatUser(app.core, WEB_LIKE, "w1", name=None).sign_up(phone="+79001234567"))
        viber = ChatUser(app.core, channel_info("viber", verified_contacts=True), "v1")
        await viber.send("/start")
        await viber.press("consent:yes")
        assert "С возвращением" in text_of(await viber.share_contact("+79001234567"))
        assert "100 баллов" in text_of(await viber.press("card"))
        async with app.core.unit_of_work() as uow:
            assert (await uow.session.execute(select(func.count(Customer.id)))).scalar_one() == 2
        await ivan.press("settings:delete:confirm")
        async with app.core.unit_of_work() as uow:
            assert (await uow.session.execute(select(func.count(Customer.id)))).scalar_one() == 1
            channels = (await uow.session.execute(select(Identity.channel))).scalars().all()
        assert channels == ["web"]  # Telegram and Viber went with the customer
    finally:
        await app.close()
