"""The owner finds the console: an admin's /start and /help show a button for each screen
and the list of commands, in every channel; an admin who never joined goes there, not to
the customer's consent, and can join from it; a cashier keeps the desk, a customer the
menu."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.handlers.console import SCREENS
from bot.storage.models import Customer
from tests.chat import OWNER, WEB_LIKE, owner_settings, payloads_of, text_of
from tests.test_cashier_chat import hire

SCREEN_BUTTONS = [payload for _label, payload in SCREENS]
WEB_OWNER = "owner-visitor-0001"


@pytest.fixture
def settings(db_url: str) -> Settings:
    shop = owner_settings(db_url)
    return shop.model_copy(update={"admins": [*shop.admins, f"web:{WEB_OWNER}"]})


async def customers(app) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return await uow.session.scalar(select(func.count()).select_from(Customer))


def labels(replies) -> list[str]:  # type: ignore[no-untyped-def]
    return [button.label for reply in replies for row in reply.buttons for button in row]


async def test_an_admin_who_never_joined_gets_the_console_not_the_consent(app, chat):
    owner = chat(OWNER, name="Olga")
    replies = await owner.send("/start")
    text = text_of(replies)
    assert text.startswith("🛠 Панель управления «Coffee Point»")
    assert "/stats — Статистика программы" in text and "/triggers — Отчёты по триггерам" in text
    assert payloads_of(replies) == [*SCREEN_BUTTONS, "con.join"]
    assert labels(replies)[:4] == ["📊 Статистика", "🎯 Сегменты", "📣 Рассылка", "🔎 Клиенты"]
    assert "Сами вы пока не участник программы" in text
    assert "consent:yes" not in payloads_of(replies) and "согласие" not in text
    assert await customers(app) == 0
    assert payloads_of(await owner.send("/help")) == [*SCREEN_BUTTONS, "con.join"]
    replies = await owner.send("/card")
    assert text_of(replies).startswith("Это для участников программы: сначала вступите как клиент")
    assert "consent:yes" not in payloads_of(replies)
    assert "con.join" in payloads_of(await owner.send("привет"))
    assert await customers(app) == 0


async def test_in_english_and_in_the_web_chat_too(app, chat):
    owner = chat(WEB_OWNER, channel=WEB_LIKE, name=None, language="en")
    replies = await owner.send("/help")
    text = text_of(replies)
    assert text.startswith("🛠 The console of Coffee Point. Choose a screen, or send a command:")
    assert "/segments — Customer segments" in text
    assert labels(replies) == ["📊 Stats", "🎯 Segments", "📣 Broadcast", "🔎 Customers",
                               "👥 Staff", "🏪 Outlets", "⚙️ Settings", "🔁 Triggers",
                               "📤 Export", "🙋 Join as a customer"]
    assert "Members: 0" in text_of(await owner.press("st.open"))


@pytest.mark.parametrize(("payload", "russian", "english"), [
    ("st.open", "📊 За последние 30 дней", "📊 The last 30 days"),
    ("sg.open", "👥 Сегменты на", "👥 Segments as of"),
    ("bc.new", "Новая рассылка.", "New broadcast."),
    ("cu.find", "Кого найти?", "Whom to find?"),
    ("staff.list", "Сотрудники:", "The staff:"),
    ("ol.list", "Точки и их ключи POS API", "Outlets and their POS API keys"),
    ("ps.v", "⚙️ Настройки программы", "⚙️ Program settings"),
    ("tr.open", "Триггеры за последние 30 дней", "Triggers over the last 30 days"),
    ("ex.open", "Что выгрузить?", "What to export?"),
])
async def test_each_button_opens_its_screen(app, chat, payload, russian, english):
    assert russian in text_of(await chat(OWNER).press(payload))
    assert english in text_of(await chat(WEB_OWNER, channel=WEB_LIKE, language="en").press(payload))


async def test_customers_from_the_console_the_next_message_is_the_search(app, chat):
    await chat("42").sign_up()
    owner = chat(OWNER)
    await owner.press("cu.find")
    assert "👤 Ivan Petrov" in text_of(await owner.send("Ivan"))
    replies = await owner.send("Ivan")  # searched once, not again
    assert text_of(replies).startswith("Не совсем понял. Вот панель управления:")
    assert "con.join" in payloads_of(replies)  # not the customer's consent
    await owner.press("cu.find")
    replies = await owner.send("Пётр")
    assert "По запросу «Пётр» никого не нашли" in text_of(replies)
    assert payloads_of(replies) == ["cu.find"]


async def test_the_admin_joins_as_a_customer_from_the_console(app, chat):
    owner = chat(OWNER, name="Olga")
    await owner.send("/start")
    replies = await owner.press("con.join")
    assert "согласие на обработку персональных данных" in text_of(replies)
    assert "consent:yes" in payloads_of(replies)
    await owner.press("consent:yes")
    await owner.share_contact("+79005550011")
    assert "Продолжим с того места" not in text_of(await owner.send("/start"))  # the console
    assert "Как к вам обращаться?" in text_of(await owner.press("con.join"))  # goes on
    await owner.press("name:profile")
    assert "Добро пожаловать в программу, Olga!" in text_of(await owner.press("birthday:skip"))
    assert await customers(app) == 1

    replies = await owner.send("/start")
    assert payloads_of(replies) == [*SCREEN_BUTTONS, "menu"]
    assert "💳 Моя карта и баллы" in labels(replies) and "не участник" not in text_of(replies)
    assert {"card", "balance", "status"} <= set(payloads_of(await owner.press("menu")))


async def test_an_invited_admin_lands_on_the_console(app, chat, clock):
    anna = await hire(app, chat, clock, "2", "admin", language="en")
    replies = anna.last
    assert "You are now an administrator of Coffee Point." in text_of(replies)
    assert "🛠 The console of Coffee Point" in text_of(replies)
    assert payloads_of(replies) == [*SCREEN_BUTTONS, "con.join"]


async def test_a_cashier_keeps_the_desk_and_gets_no_console(app, chat, clock):
    kate = await hire(app, chat, clock)
    replies = await kate.send("/start")
    assert "co.start" in payloads_of(replies) and "st.open" not in payloads_of(replies)
    assert "Панель управления" not in text_of(replies)
    for payload in SCREEN_BUTTONS:
        assert "только администратор" in text_of(await kate.press(payload))


async def test_a_customers_help_is_still_the_menu(app, chat):
    ivan = chat("42", language="en")
    await ivan.sign_up()
    replies = await ivan.send("/help")
    assert text_of(replies) == "What would you like to see?"
    assert {"card", "balance", "rules"} <= set(payloads_of(replies))
    assert "st.open" not in payloads_of(replies)
    assert "только администратор" in text_of(await chat("43").press("con.join"))
