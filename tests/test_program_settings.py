"""The owner's /settings: the rules in force, triggers switched on and off and their texts
edited in the chat, effective at the next pass without a restart (over the config), audited;
a customer's and a cashier's /settings as before; stale buttons change nothing; the
overrides' storage on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core.clock import FrozenClock
from bot.core.routing import Router
from bot.handlers import program
from bot.handlers.registry import MODULES
from bot.loyalty.program_settings import effective_triggers, set_enabled, set_text
from bot.marketing.triggers import run_pass
from bot.storage import database
from bot.storage.models import AuditEntry, TriggerOverride
from bot.storage.uow import UnitOfWork
from tests.chat import OWNER, ChatUser, owner_settings, payloads_of, text_of
from tests.test_staff_commands import invited
from tests.test_triggers import buy, day, only, signed_up  # noqa: F401 - only is a fixture
from tests.test_triggers_more import Phone, delivered, phone  # noqa: F401 - phone is a fixture
from tests.test_triggers_nudge_review import HOUR, purchase

REFUSAL = "Извините, это может сделать только администратор."


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


@pytest.fixture
def owner(chat) -> ChatUser:  # type: ignore[no-untyped-def]
    return chat(OWNER, name="Olga")


async def rows(app, model):  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(model))).scalars())


async def edit(owner: ChatUser, trigger: str, locale: str, text: str) -> list:  # type: ignore[type-arg]
    """«Edit a message text» → the trigger → the language → the text; the replies to it."""
    assert f"ps.x:{trigger}" in payloads_of(await owner.press("ps.x"))
    assert f"ps.x:{trigger}:{locale}" in payloads_of(await owner.press(f"ps.x:{trigger}"))
    await owner.press(f"ps.x:{trigger}:{locale}")
    return await owner.send(text)


def the(payloads: list[str], prefix: str) -> str:
    [payload] = [p for p in payloads if p.startswith(prefix)]
    return payload


# --- the view -----------------------------------------------------------------------------

async def test_the_owner_sees_the_rules_and_every_trigger_with_its_state(app, owner):
    replies = await owner.send("/settings")
    text = text_of(replies)
    for line in ("⚙️ Настройки программы", "• Приветственный бонус: 100 баллов, живут 90 дней",
                 ("• Уровень Серебро с 1-й покупки: кешбэк 3 %, баллами можно оплатить до 3,75 % "
                  "покупки"),
                 "• Баллами можно оплатить не больше 15 % покупки",
                 "• Баллы за покупки живут 365 дней",
                 "• Бонус за друга каждой стороне: 200 баллов, живут 180 дней",
                 "• Возврат, 1-й этап (31-й день без покупок): вкл.",
                 "• Возврат, 2-й этап (61-й день без покупок): вкл., подарок 300 баллов на 60 дней",
                 "• День рождения (за 3 дня): вкл., подарок 500 баллов на 30 дней",
                 "• Сводка баланса (по числам: 1, 15): вкл.",
                 "• Просьба оценить покупку (через 3 часа после покупки): вкл."):
        assert line in text, line
    payloads = payloads_of(replies)
    assert {"ps.off:win_back_30", "ps.off:birthday", "ps.off:review_request", "ps.x"} <= set(payloads)
    assert "settings" not in payloads  # not a member: no customer settings to open


async def test_an_owner_who_is_a_member_keeps_their_customer_settings(app, owner):
    await owner.sign_up()
    payloads = payloads_of(await owner.send("/settings"))
    assert "ps.x" in payloads and "settings" in payloads
    mine = await owner.press("settings")  # the customer's screen, the same handler
    assert "settings:lang:ru" in payloads_of(mine) and "settings:delete" in payloads_of(mine)
    assert "Настройки." in text_of(mine)


# --- a customer's and a cashier's /settings, as before ------------------------------------

def router_without_program() -> Router:
    router = Router()
    for module in MODULES:
        if module is not program:
            router.include(module.router)
    return router


async def test_a_customers_settings_are_unchanged(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    now = await ivan.send("/settings")
    app.core.router, full = router_without_program(), app.core.router
    before = await ivan.send("/settings")
    app.core.router = full
    assert now == before
    assert {"settings:lang:ru", "settings:lang:en", "settings:topic:promotions",
            "settings:delete", "profile", "menu"} <= set(payloads_of(now))
    assert "Настройки программы" not in text_of(now)
    for payload in ("ps.off:birthday", "ps.x", "ps.x:birthday:ru", "ps.ok:abc", "ps.v"):
        assert text_of(await ivan.press(payload)) == REFUSAL
    assert await rows(app, TriggerOverride) == []


async def test_a_cashier_gets_what_they_got_before_and_no_program_view(app, chat, owner):
    kate, lena = chat("7", name="Kate"), chat("8", name="Kate")
    await invited(owner, kate)
    await invited(owner, lena)
    now = await kate.send("/settings")
    app.core.router, full = router_without_program(), app.core.router
    before = await lena.send("/settings")
    app.core.router = full
    assert now == before and "Настройки программы" not in text_of(now)
    assert text_of(await kate.press("ps.off:win_back_30")) == REFUSAL
    assert await rows(app, TriggerOverride) == []


# --- switching triggers -------------------------------------------------------------------

async def test_switching_a_trigger_off_stops_it_at_the_next_pass_and_on_again(app, chat, owner,
                                                                             only, phone):
    only("win_back_30")  # on in the config
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    replies = await owner.press("ps.off:win_back_30")
    assert ("✅ «Возврат, 1-й этап (31-й день без покупок): выкл.». Действует со следующего запуска."
            in text_of(replies))
    assert "ps.on:win_back_30" in payloads_of(replies)
    assert await run_pass(app.core, day("2026-04-02")) == []
    assert await run_pass(app.core, day("2026-04-02"), send=False) == []  # the preview too
    await owner.press("ps.on:win_back_30")
    [reminder] = await run_pass(app.core, day("2026-04-03"))
    assert reminder.trigger == "win_back_30"
    audit = [(e.action, e.details, e.actor_identity_id is not None) for e in await rows(app, AuditEntry)]
    assert audit == [("settings", {"trigger": "win_back_30", "enabled": False}, True),
                     ("settings", {"trigger": "win_back_30", "enabled": True}, True)]


async def test_switching_on_in_the_chat_wins_over_the_config(app, chat, owner, only, phone):
    only()  # everything off in the config
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    assert "ps.on:win_back_30" in payloads_of(await owner.send("/settings"))
    await owner.press("ps.on:win_back_30")
    [reminder] = await run_pass(app.core, day("2026-04-02"))
    assert reminder.trigger == "win_back_30"


async def test_an_old_switch_button_changes_nothing(app, owner):
    await owner.press("ps.off:birthday")
    replies = await owner.press("ps.off:birthday")  # a second tap, or an old message
    assert "Ничего не изменилось: «День рождения (за 3 дня): выкл.» — уже так." in text_of(replies)
    assert len(await rows(app, AuditEntry)) == 1
    assert "Это уже неактуально" in text_of(await owner.press("ps.off:no_such_trigger"))


# --- own texts ----------------------------------------------------------------------------

async def test_an_own_text_set_in_the_chat_is_used_at_the_next_pass(app, chat, clock, owner,
                                                                   only, phone):
    only("tier_nudge")
    await signed_up(chat)
    for n in range(4):
        await purchase(app, day("2026-03-02") + n * HOUR, f"r{n}")
    replies = await edit(owner, "tier_nudge", "ru", "{name}, до уровня {tier} — одна покупка.")
    assert "Новый текст:\n{name}, до уровня {tier} — одна покупка.\n\nСохранить?" in text_of(replies)
    replies = await owner.press(the(payloads_of(replies), "ps.ok:"))
    assert ("✅ Сохранено: «Одна покупка до нового уровня (не хватает одной покупки)», Русский."
            in text_of(replies))
    await run_pass(app.core, day("2026-03-03"))
    await delivered(app, clock, day("2026-03-03"))
    assert phone.text() == "Ivan Petrov, до уровня Золото — одна покупка."
    [entry] = await rows(app, AuditEntry)
    assert (entry.action, entry.details) == ("settings", {
        "trigger": "tier_nudge", "locale": "ru", "text": "{name}, до уровня {tier} — одна покупка."})


async def test_the_text_in_force_is_shown_and_back_to_the_built_in_one(app, chat, clock, owner,
                                                                       only, phone):
    only("win_back_30")
    shown = text_of(await owner.press("ps.x:win_back_30:ru"))
    assert ("Сейчас покупатели получают встроенный текст:\n{name}, мы скучаем! На вашей карте "
            "{balance}") in shown
    assert "Можно подставить: {balance}, {expires_on}, {name}, {points}." in shown
    replies = await owner.send("{name}, заходите! На карте {balance}.")
    await owner.press(the(payloads_of(replies), "ps.ok:"))
    replies = await owner.press("ps.x:win_back_30:ru")
    assert ("Сейчас покупатели получают собственный текст магазина (задан здесь):\n"
            "{name}, заходите! На карте {balance}.") in text_of(replies)
    replies = await owner.press(the(payloads_of(replies), "ps.rm:"))
    assert "со следующего запуска — снова встроенный текст" in text_of(replies)
    [row] = await rows(app, TriggerOverride)
    assert row.texts == {}
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    await run_pass(app.core, day("2026-04-02"))
    await delivered(app, clock, day("2026-04-02"))
    assert "мы скучаем" in phone.text()
    assert [e.details.get("text") for e in await rows(app, AuditEntry)] == [
        "{name}, заходите! На карте {balance}.", None]


@pytest.mark.parametrize(("typed", "why"), [
    ("{name}, {tier}", "{tier} — не подстановка этого сообщения"),
    ("Скидка {bonus}!", "{bonus} — не подстановка этого сообщения"),
    ("Привет, {name", "у фигурной скобки нет пары"), ("{name}}", "у фигурной скобки нет пары"),
    ("{points:d} баллов", "подстановка записана неверно"),
    ("{0}", "{0} — не подстановка этого сообщения")])
async def test_a_bad_placeholder_is_explained_and_nothing_is_stored(app, owner, typed, why):
    replies = await edit(owner, "win_back_30", "ru", typed)
    text = text_of(replies)
    assert "этот текст не подходит" in text and why in text and "Ничего не сохранено." in text
    assert "{balance}, {expires_on}, {name}, {points}" in text
    assert not any(p.startswith("ps.ok:") for p in payloads_of(replies))
    assert await rows(app, TriggerOverride) == [] and await rows(app, AuditEntry) == []
    replies = await owner.send("{name}, {{50%}} на {balance}")  # the flow goes on
    assert "Сохранить?" in text_of(replies)


async def test_stale_text_buttons_change_nothing(app, owner):
    replies = await edit(owner, "birthday", "en", "Happy birthday, {name}!")
    confirm = the(payloads_of(replies), "ps.ok:")
    assert "Это уже неактуально" in text_of(await owner.press("ps.ok:another"))
    await owner.press(confirm)
    assert "Это уже неактуально" in text_of(await owner.press(confirm))  # a second tap
    replies = await edit(owner, "birthday", "en", "Again, {name}!")
    await owner.press(the(payloads_of(replies), "ps.no:"))
    assert "Это уже неактуально" in text_of(await owner.press(the(payloads_of(replies), "ps.ok:")))
    [row] = await rows(app, TriggerOverride)
    assert row.texts == {"en": "Happy birthday, {name}!"} and row.enabled is None
    assert len(await rows(app, AuditEntry)) == 1


async def test_a_config_text_is_shown_and_comes_back_after_a_reset(app, owner, settings):
    settings.triggers.birthday.text = {"ru": "С наступающим, {name}!"}
    assert "(из файла настроек):\nС наступающим, {name}!" in text_of(
        await owner.press("ps.x:birthday:ru"))
    replies = await owner.send("С днём рождения, {name}! {points} ваши.")
    await owner.press(the(payloads_of(replies), "ps.ok:"))
    triggers = await _effective(app)
    assert triggers.birthday.text == {"ru": "С днём рождения, {name}! {points} ваши."}
    replies = await owner.press("ps.x:birthday:ru")
    replies = await owner.press(the(payloads_of(replies), "ps.rm:"))
    assert "снова действует текст из файла настроек" in text_of(replies)
    assert (await _effective(app)).birthday.text == {"ru": "С наступающим, {name}!"}


async def _effective(app):  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return await effective_triggers(uow, app.core.services.settings)


# --- the storage on both databases --------------------------------------------------------

async def test_overrides_on_sqlite_and_postgresql(any_db_url, clock):
    settings = Settings(database={"url": any_db_url})
    engine = database.create_engine(any_db_url)
    sessions = database.session_factory(engine)
    try:
        async with UnitOfWork(sessions) as uow:
            await set_enabled(uow, "win_back_60", False, actor=None, at=clock.now())
            await set_text(uow, "holidays", "en", "{holiday}! {{50%}} off", actor=None, at=clock.now())
            await set_text(uow, "holidays", "ru", "{holiday}!", actor=None, at=clock.now())
            await uow.commit()
        async with UnitOfWork(sessions) as uow:
            triggers = await effective_triggers(uow, settings)
            await set_text(uow, "holidays", "ru", "", actor=None, at=FrozenClock(clock.now()).now())
            await uow.commit()
        assert not triggers.win_back_60.enabled and triggers.win_back_30.enabled
        assert triggers.holidays.text == {"en": "{holiday}! {{50%}} off", "ru": "{holiday}!"}
        assert settings.triggers.win_back_60.enabled and settings.triggers.holidays.text == {}
        async with UnitOfWork(sessions) as uow:
            triggers = await effective_triggers(uow, settings)
        assert triggers.holidays.text == {"en": "{holiday}! {{50%}} off"}
    finally:
        await engine.dispose()
