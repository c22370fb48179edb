"""The owner changes the program in the chat: every rule typed, checked like the config file,
previewed (before and after), saved over the config and audited; it applies from the next
operation on (a sign-up, a purchase in the chat or at a till, a trigger pass), in every
process that shares the database, with the history visible."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import Application, build
from bot.config import Settings
from bot.loyalty.program_settings import effective_settings
from bot.storage.models import AuditEntry, SettingValue
from tests.chat import OWNER, ChatUser, owner_settings, payloads_of, text_of
from tests.till import Till, member, new_key


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


@pytest.fixture
def owner(chat) -> ChatUser:  # type: ignore[no-untyped-def]
    return chat(OWNER, name="Olga")


@pytest.fixture
async def till(app: Application) -> AsyncIterator[Till]:
    async with TestClient(TestServer(app.web)) as client:
        yield Till(app, client, await new_key(app))


def the(replies: list, prefix: str) -> str:  # type: ignore[type-arg]
    [payload] = [p for p in payloads_of(replies) if p.startswith(prefix)]
    return payload


async def change(owner: ChatUser, key: str, typed: str) -> list:  # type: ignore[type-arg]
    """Tap the value, type the new one; the preview."""
    await owner.press(f"pr.e:{key}")
    return await owner.send(typed)


async def save(owner: ChatUser, key: str, typed: str) -> str:
    return text_of(await owner.press(the(await change(owner, key, typed), "pr.ok:")))


async def stored(app: Application, model):  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(model))).scalars())


async def test_a_bonus_changed_in_the_chat_applies_to_the_next_sign_up(app, chat, owner):
    await owner.send("/settings")
    section = text_of(await owner.press("pr.s:bonuses"))
    assert "• Приветственный бонус: 100 баллов, живут 90 дней" in section
    preview = text_of(await change(owner, "welcome_bonus", "250"))
    assert preview.startswith("Сейчас:\n• Приветственный бонус: 100 баллов, живут 90 дней\n\n"
                              "После изменения:\n• Приветственный бонус: 250 баллов, живут 90 дней")
    assert await stored(app, SettingValue) == []  # nothing before «Save»

    await owner.press(the(owner.last, "pr.ok:"))
    assert "✅ Сохранено. Действует со следующей операции." in text_of(owner.last)
    [entry] = [e for e in await stored(app, AuditEntry) if e.action == "settings"]
    assert entry.details == {"path": "program.welcome_bonus", "before": 100, "after": 250}

    anna = chat("42")
    await anna.sign_up()
    assert "250" in text_of(await anna.send("/balance"))


async def test_a_tier_change_applies_at_the_till_and_in_the_rules_customers_read(
        app, chat, owner, till):
    tier = await owner.press("pr.i:tiers.gold")
    assert "«Золото»: нажмите на значение" in text_of(tier)
    assert "Золото: Кешбэк, %: 5" in [b.label for reply in tier for row in reply.buttons for b in row]
    await save(owner, "tiers.silver.cashback_percent", "10")
    await save(owner, "tiers.silver.spend_share_percent", "50")
    card = (await member(till))["card_number"]
    status, body = await till.buy(card=card, amount="1000.00", receipt_id="R1")
    assert (status, body["earned"]) == (201, 100)  # 10 % of 1,000 (the config says 3 %)
    status, body = await till.card(card, amount="1000.00")
    assert body["spend_cap"] == 75  # 1,000 × 15 % × 50 %

    anna = chat("43")
    await anna.sign_up(phone="+79001112233")
    rules = text_of(await anna.send("/rules"))
    assert "Серебро 10 %" in rules


async def test_values_the_rules_refuse_are_answered_in_english_and_nothing_is_stored(app, chat):
    owner = chat(OWNER, language="en")
    answer = text_of(await change(owner, "max_discount_percent", "150"))
    assert "Please send a whole number from 0 to 100." in answer
    assert "Nothing was changed; send the value again or cancel." in answer
    assert "Please send a time like 21:00." in text_of(await change(owner, "triggers.quiet_start", "25:00"))
    clash = text_of(await change(owner, "tiers.gold.min_purchases", "7"))  # Platinum starts at 7
    assert "two tiers would start at the same purchase" in clash
    assert "Please send a name of 1 to 32 characters." in text_of(
        await change(owner, "tiers.gold.name", "G" * 33))
    assert text_of(await owner.press("pr.e:tiers.bronze.name")).startswith("This is no longer valid")
    assert "This is already the rule in force" in text_of(await change(owner, "welcome_bonus", "100"))
    assert await stored(app, SettingValue) == []


async def test_the_rewards_catalog_is_added_to_edited_and_retired_in_the_chat(app, chat, owner):
    anna = chat("42")
    await anna.sign_up()
    await owner.press("pr.add:rewards")
    await owner.send("Круассан")
    preview = text_of(await owner.send("120"))
    assert "После изменения:\n• Награда «Круассан»: 120 баллов" in preview
    await owner.press(the(owner.last, "pr.ok:"))
    assert "Круассан" in text_of(await anna.send("/rewards"))

    screen = await owner.press("pr.s:rewards")
    croissant = the(screen, "pr.i:rewards.r")
    code = croissant.partition(":")[2]  # rewards.<code>
    await save(owner, f"{code}.points", "90")
    assert "Круассан — 90 баллов" in text_of(await anna.send("/rewards"))

    retire = the(await owner.press(croissant), "pr.rm:")
    assert "Сейчас:\n• Награда «Круассан»: 90 баллов\n\nПосле изменения:\n—" in text_of(
        await owner.press(retire))
    await owner.press(the(owner.last, "pr.ok:"))
    assert "Круассан" not in text_of(await anna.send("/rewards"))


async def test_holidays_quiet_hours_cap_and_holdout_change_what_the_passes_use(app, owner):
    await owner.press("pr.add:holidays")
    assert "шаг 2 из 2" in text_of(await owner.send("01.06"))
    preview = text_of(await owner.send("День защиты детей"))
    assert "• Праздник 01.06: День защиты детей" in preview
    await owner.press(the(owner.last, "pr.ok:"))
    await save(owner, "triggers.quiet_start", "22.30")
    await save(owner, "triggers.daily_marketing_cap", "2")
    await save(owner, "triggers.holdout_percent", "0")
    holidays = await owner.press("pr.s:holidays")
    removal = await owner.press(the(holidays, "pr.rm:triggers.holidays.dates.01-01"))
    await owner.press(the(removal, "pr.ok:"))

    async with app.core.unit_of_work() as uow:
        rules = await effective_settings(uow, app.settings)  # what a trigger pass reads
    triggers = rules.triggers
    assert [h.date for h in triggers.holidays.dates] == ["03-08", "06-01"]
    assert (triggers.quiet_start.strftime("%H:%M"), triggers.daily_marketing_cap,
            triggers.holdout_percent) == ("22:30", 2, 0)
    section = text_of(await owner.press("pr.s:messages"))
    assert "• Тихие часы: 22:30–10:00" in section
    assert "• Не больше 2 автосообщений покупателю в день" in section


async def test_the_history_says_who_changed_what(app, chat):
    owner = chat(OWNER, language="en")
    await save(owner, "review_bonus", "30")
    await owner.press("ps.off:win_back_30")
    history = text_of(await owner.press("pr.s:history"))
    assert "🕘 The last changes:" in history
    assert ("Telegram 1: automatic message «Win-back, 1st stage (day 31 without a purchase)» changed"
            in history)
    assert "Telegram 1: Review bonus, points: 20 → 30" in history


async def test_a_change_reaches_another_process_on_its_next_event(app, chat, owner, settings, clock):
    other = await build(settings, clock)  # a second copy of the bot on the same database
    try:
        await save(owner, "welcome_bonus", "300")
        async with other.core.unit_of_work() as uow:
            assert (await effective_settings(uow, other.settings)).program.welcome_bonus == 300
        anna = ChatUser(other.core, owner.channel, "42", flush=other.outbox.send_due)
        await anna.sign_up()
        assert "300" in text_of(await anna.send("/balance"))
    finally:
        await other.close()


async def test_a_stored_rule_the_config_no_longer_accepts_is_skipped(app, chat, owner):
    async with app.core.unit_of_work() as uow:
        uow.session.add(SettingValue(path="program.max_discount_percent", value=900,
                                     updated_at=app.core.services.clock.now()))
        await uow.commit()
    assert "• Баллами можно оплатить не больше 15 % покупки" in text_of(await owner.send("/settings"))


async def test_the_text_editor_names_the_wrong_placeholder(app, chat):
    owner = chat(OWNER, language="en")
    await owner.press("ps.x:win_back_30:en")
    answer = text_of(await owner.send("Hello {nmae}, you have {balance}"))
    assert "{nmae} is not a placeholder of this message" in answer
    assert "Placeholders you can use: {balance}, {expires_on}, {name}, {points}." in answer


@pytest.mark.parametrize(("key", "typed", "most"), [
    ("welcome_bonus", "9" * 30, "1000000"), ("referral_bonus", "3000000000", "1000000"),
    ("welcome_bonus_days", "999999999", "36500"), ("purchase_points_days", "9" * 20, "36500"),
    ("triggers.daily_marketing_cap", "9" * 30, "1000000000"),
    ("tiers.gold.min_purchases", "9" * 30, "1000000000")])
async def test_a_number_too_big_for_the_ledger_or_the_calendar_is_refused(app, chat, key, typed, most):
    """Such a number failed the preview (an apology and a traceback), or was taken though
    no ledger row (a 32-bit amount) or date that many days ahead could hold it."""
    owner = chat(OWNER)
    answer = text_of(await change(owner, key, typed))
    assert f"Пожалуйста, отправьте целое число от 0 до {most}." in answer or \
        f"Пожалуйста, отправьте целое число от 1 до {most}." in answer, answer
    assert await stored(app, SettingValue) == []
