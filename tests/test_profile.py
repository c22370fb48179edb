"""The profile bonus: e-mail and "how did you hear about us", once, after sign-up."""

from __future__ import annotations

import pytest

from bot.handlers.profile import normalize_email
from tests.chat import payloads_of, text_of
from tests.test_feedback import customer_by_phone


@pytest.mark.parametrize("typed, kept", [
    ("anna@example.com", "anna@example.com"),
    ("  Anna.P@Mail.RU ", "Anna.P@mail.ru"),
    ("anna@example", None),
    ("anna@@example.com", None),
    ("anna@example..com", None),
    ("@example.com", None),
    ("anna @example.com", None),
    ("a" * 250 + "@b.ru", None),
])
def test_email_check_is_simple(typed, kept):
    assert normalize_email(typed) == kept


async def test_completing_the_profile_gives_the_bonus_once(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    menu = await ivan.send("/menu")
    assert "profile" in payloads_of(menu)
    assert "Заполнить анкету: +50 баллов" in str(menu)

    replies = await ivan.press("profile")
    assert "Два коротких вопроса — и 50 баллов ваши" in text_of(replies)
    assert "Это не похоже на адрес" in text_of(await ivan.send("ivan at mail"))
    replies = await ivan.send("ivan@example.com")
    assert "Как вы о нас узнали?" in text_of(replies)
    assert "profile:heard:friends" in payloads_of(replies)
    replies = await ivan.press("profile:heard:friends")
    assert "Спасибо, анкета заполнена: +50 баллов." in text_of(replies)
    assert "profile" not in payloads_of(replies)  # the menu stops offering it

    customer = await customer_by_phone(app)
    assert (customer.email, customer.heard_from) == ("ivan@example.com", "friends")
    assert customer.profile_completed_at is not None
    balance = text_of(await ivan.press("balance"))
    assert "Доступно: 150 баллов" in balance and "+50 бонус за анкету" in balance

    # again from Settings: the answers change, the bonus does not come twice
    assert "profile" in payloads_of(await ivan.press("settings"))
    assert "Сейчас: ivan@example.com" in text_of(await ivan.press("profile"))
    await ivan.send("ivan.new@example.com")
    assert "Напишите в двух словах" in text_of(await ivan.press("profile:heard:other"))
    assert "Анкета обновлена" in text_of(await ivan.send("Увидел вывеску у метро"))
    customer = await customer_by_phone(app)
    assert customer.email == "ivan.new@example.com"
    assert customer.heard_from == "Увидел вывеску у метро"
    assert "Доступно: 150 баллов" in text_of(await ivan.press("balance"))


async def test_a_typed_answer_to_the_source_question_counts(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    await ivan.press("profile")
    await ivan.send("ivan@example.com")
    assert "+50 баллов" in text_of(await ivan.send("В инстаграме"))
    assert (await customer_by_phone(app)).heard_from == "В инстаграме"


async def test_a_menu_button_abandons_the_questions(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    await ivan.press("profile")
    await ivan.press("menu")
    assert "Не совсем понял" in text_of(await ivan.send("ivan@example.com"))
    assert (await customer_by_phone(app)).email is None


async def test_no_second_profile_bonus_after_deleting_and_joining_again(app, chat):
    ivan = chat("42")

    async def complete_profile() -> str:
        await ivan.press("profile")
        await ivan.send("ivan@example.com")
        return text_of(await ivan.press("profile:heard:maps"))

    await ivan.sign_up()
    assert "+50 баллов" in await complete_profile()
    await ivan.press("settings:delete:confirm")
    await ivan.sign_up()  # the same verified phone: no welcome bonus either
    assert "Спасибо, анкета заполнена." in await complete_profile()
    assert "Доступно: 0 баллов" in text_of(await ivan.press("balance"))
