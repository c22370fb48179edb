"""Telegram's command menu per person: admins get the owner's console commands and cashiers
the checkout ones, in their chat and their language, when the bot starts and when someone
joins or leaves the staff. Checked on the calls the real aiogram client makes to the fake
Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.app import Application, build
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.console.invites import create_invite
from bot.core.clock import FrozenClock
from bot.storage.models import Identity
from tests.chat import OWNER, TELEGRAM_LIKE, WEB_LIKE, ChatUser, owner_settings
from tests.fakes.telegram_api import Call, FakeBotAPI, callback_update, message_update
from tests.test_telegram_channel import api, telegram_settings  # noqa: F401 - api is a fixture

ADMIN_ONLY = {"stats", "segments", "broadcast", "customer", "staff", "outlets", "triggers",
              "export"}
CUSTOMER = {"start", "card", "balance", "status", "rewards", "friends", "feedback", "rules"}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock, api: FakeBotAPI) -> AsyncIterator[Application]:
    application = await build(telegram_settings(settings, api, mode="polling"), clock)
    yield application
    await application.close()


async def start(app: Application) -> TelegramChannel:
    channel = app.channel("telegram")
    assert isinstance(channel, TelegramChannel)
    await channel.start()
    await app.outbox.start()
    return channel


async def hire(app: Application, clock: FrozenClock, person: ChatUser, role: str) -> None:
    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, role, None, clock.now())
        await uow.commit()
    await person.send(f"/start {payload}")


def chat_menus(api: FakeBotAPI, method: str = "setMyCommands") -> dict[int, Call]:
    """The last menu call of each chat that got its own."""
    return {call.params["scope"]["chat_id"]: call for call in api.calls_to(method)
            if call.params.get("scope", {}).get("type") == "chat"}


def commands(call: Call) -> dict[str, str]:
    return {c["command"]: c["description"] for c in call.params["commands"]}


async def test_at_start_admins_and_cashiers_get_their_menus_in_their_language(app, api, clock):
    owner = ChatUser(app.core, TELEGRAM_LIKE, OWNER, language="en")
    await owner.send("/start")  # the config's admin has written to the bot, in English
    async with app.core.unit_of_work() as uow:
        (await uow.session.execute(select(Identity))).scalar_one().locale = "en"
        await uow.commit()
    await hire(app, clock, ChatUser(app.core, TELEGRAM_LIKE, "7"), "cashier")
    await hire(app, clock, ChatUser(app.core, TELEGRAM_LIKE, "8"), "admin")
    await hire(app, clock, ChatUser(app.core, WEB_LIKE, "web-visitor"), "admin")

    await start(app)
    menus = chat_menus(api)
    assert set(menus) == {1, 7, 8}  # not the web chat's admin
    owners = commands(menus[1])
    assert ADMIN_ONLY | CUSTOMER | {"checkout", "refund", "settings"} == set(owners)
    assert owners["stats"] == "Program statistics" and owners["settings"] == "Program settings"
    assert next(iter(owners)) == "stats"
    assert commands(menus[8])["stats"] == "Статистика программы"
    cashiers = commands(menus[7])
    assert set(cashiers) == CUSTOMER | {"checkout", "refund", "settings"}
    assert cashiers["checkout"] == "Обслужить клиента на кассе"
    assert cashiers["settings"] == "Настройки"  # a cashier's /settings is their own
    assert all("language_code" not in call.params for call in menus.values())


async def test_configured_admins_get_the_menu_before_writing_and_a_wrong_id_is_skipped(
        settings, clock, api):
    typo = settings.model_copy(update={"admins": ["telegram:olga", f"telegram:{OWNER}"]})
    application = await build(telegram_settings(typo, api, mode="polling"), clock)
    try:
        await start(application)
        assert set(commands(chat_menus(api)[1])) >= ADMIN_ONLY
    finally:
        await application.close()


async def test_joining_and_leaving_the_staff_change_the_menu(app, api, clock):
    await start(app)
    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "admin", None, clock.now())
        await uow.commit()
    api.push_update(message_update(1, 55, f"/start {payload}", language_code="en"))
    [call] = [c for c in await api.wait_for("setMyCommands", 5) if c.params.get("scope", {})
              .get("chat_id") == 55]
    assert commands(call)["staff"] == "Staff"  # the language of the message

    async with app.core.unit_of_work() as uow:
        anna = (await uow.session.execute(
            select(Identity).where(Identity.external_id == "55"))).scalar_one()
    api.push_update(callback_update(2, int(OWNER), f"staff.rm-ok:{anna.id}"))
    [removed] = await api.wait_for("deleteMyCommands")
    assert removed.params["scope"] == {"type": "chat", "chat_id": 55}
