"""Joining the program, as a person sees it in the chat."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.replies import AskContact
from bot.storage.models import Customer, PointLot
from tests.chat import WEB_LIKE, payloads_of, text_of


async def customers(app) -> list[Customer]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer))).scalars())


async def test_start_greets_with_rules_and_asks_consent_storing_nothing_personal(app, chat):
    ivan = chat("42")
    replies = await ivan.send("/start")
    text = text_of(replies)
    assert "Coffee Point" in text
    assert "Как работает программа" in text
    assert "согласие на обработку персональных данных" in text
    assert "consent:yes" in payloads_of(replies)
    assert await customers(app) == []


async def test_full_sign_up_in_a_messenger_gives_the_welcome_bonus(app, chat, clock):
    ivan = chat("42")
    await ivan.send("/start")
    replies = await ivan.press("consent:yes")
    assert isinstance(replies[-1], AskContact)
    replies = await ivan.share_contact("+7 (900) 123-45-67")
    assert "Как к вам обращаться?" in text_of(replies)
    assert "name:profile" in payloads_of(replies)
    replies = await ivan.press("name:profile")
    assert "день рождения" in text_of(replies)
    replies = await ivan.send("14.03.1990")
    text = text_of(replies)
    assert "Добро пожаловать в программу, Ivan Petrov!" in text
    assert "+100 баллов" in text
    assert {"card", "balance", "status", "settings", "rules"} <= set(payloads_of(replies))

    [customer] = await customers(app)
    assert customer.phone == "+79001234567" and customer.phone_verified
    assert (customer.birth_day, customer.birth_month, customer.birth_year) == (14, 3, 1990)
    assert customer.registered_at == clock.now()


async def test_web_phone_is_typed_and_stays_unverified(app, chat):
    anna = chat("web-anna", channel=WEB_LIKE, name=None)
    await anna.send("/start")
    await anna.press("consent:yes")
    replies = await anna.send("8 900 555-44-33")
    assert "Как к вам обращаться?" in text_of(replies)
    await anna.send("Anna")
    await anna.press("birthday:skip")
    [customer] = await customers(app)
    assert customer.phone == "+79005554433" and not customer.phone_verified
    assert customer.birth_day is None


async def test_typed_phone_never_takes_over_an_existing_customer(app, chat):
    await chat("42").sign_up(phone="+79001234567")
    intruder = chat("web-x", channel=WEB_LIKE, name=None)
    await intruder.send("/start")
    await intruder.press("consent:yes")
    await intruder.send("+79001234567")
    await intruder.send("Mallory")
    await intruder.press("birthday:skip")
    owners = await customers(app)
    assert len(owners) == 2
    assert {c.name for c in owners} == {"Ivan Petrov", "Mallory"}


async def test_same_verified_phone_in_another_messenger_is_the_same_customer(app, chat):
    await chat("42").sign_up(phone="+79001234567")
    again = chat("77", channel=WEB_LIKE.__class__("viber", True, WEB_LIKE.deep_link))
    await again.send("/start")
    await again.press("consent:yes")
    replies = await again.share_contact("+79001234567")
    assert "С возвращением, Ivan Petrov" in text_of(replies)
    assert len(await customers(app)) == 1


async def test_someone_elses_contact_is_refused(app, chat):
    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    replies = await ivan.share_contact("+79990000000", own=False)
    assert "Это не ваш контакт" in text_of(replies)
    assert isinstance(replies[-1], AskContact)
    assert await customers(app) == []


async def test_typed_phone_in_a_messenger_with_a_contact_button_is_asked_for_the_button(app, chat):
    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    replies = await ivan.send("+79001234567")
    assert "Нажмите кнопку «Поделиться номером»" in text_of(replies)
    assert await customers(app) == []


async def test_bad_phone_on_the_web_gets_an_example(app, chat):
    anna = chat("w1", channel=WEB_LIKE)
    await anna.send("/start")
    await anna.press("consent:yes")
    for bad in ("12", "позвоните мне", "+7 900 123 45 67 89 10 11 12 13 14 15 16 17 18"):
        replies = await anna.send(bad)
        assert "Это не похоже на номер телефона" in text_of(replies)
    assert await customers(app) == []


async def test_second_start_mid_sign_up_continues_where_it_stopped(app, chat):
    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    await ivan.share_contact("+79001234567")
    replies = await ivan.send("/start")
    assert "Продолжим с того места" in text_of(replies)
    assert "Как к вам обращаться?" in text_of(replies)


async def test_sign_up_survives_a_restart(settings, clock, chat, app):
    from bot.app import build
    from tests.chat import TELEGRAM_LIKE, ChatUser

    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    await ivan.share_contact("+79001234567")
    restarted = await build(settings, clock)
    try:
        same = ChatUser(restarted.core, TELEGRAM_LIKE, "42")
        replies = await same.send("Иван")
        assert "день рождения" in text_of(replies)
    finally:
        await restarted.close()


async def test_impossible_birthdays_get_the_expected_format(app, chat):
    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    await ivan.share_contact("+79001234567")
    await ivan.send("Иван")
    for bad in ("31.02.2000", "2000-13-01", "завтра", "29.02.2001", "01.01.2099"):
        replies = await ivan.send(bad)
        assert "ДД.ММ.ГГГГ" in text_of(replies), bad
    replies = await ivan.send("29.02")
    assert "Добро пожаловать" in text_of(replies)
    [customer] = await customers(app)
    assert (customer.birth_day, customer.birth_month, customer.birth_year) == (29, 2, None)


async def test_english_speaker_can_switch_language_before_joining(app, chat):
    john = chat("43", language="de")
    replies = await john.send("/start")
    assert "Здравствуйте" in text_of(replies)  # Russian is the default
    replies = await john.press("lang:en")
    assert "Hello! This is the loyalty program of Coffee Point." in text_of(replies)
    await john.press("consent:yes")
    replies = await john.share_contact("+447911123456")
    assert "How should we call you?" in text_of(replies)


async def test_welcome_bonus_is_a_lot_on_the_ledger(app, chat):
    await chat("42").sign_up()
    async with app.core.unit_of_work() as uow:
        [lot] = (await uow.session.execute(select(PointLot))).scalars().all()
    assert (lot.reason, lot.amount, lot.remaining) == ("welcome", 100, 100)
