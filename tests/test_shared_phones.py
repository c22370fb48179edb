"""Unverified phones, as people see them: a cashier finds a customer by a typed phone
(marked as not verified; picked from a list when several people typed it); the welcome
bonus is paid once per phone number."""

from __future__ import annotations

from sqlalchemy import delete, select

from bot.app import Application
from bot.cards import format_card_number
from bot.ledger import Ledger
from bot.storage.models import Customer, WelcomedPhone
from tests.chat import WEB_LIKE, ChatUser, payloads_of, text_of
from tests.test_cashier_chat import button, hire, labels_of

PHONE = "+79001234567"
TYPED = "8 (900) 123-45-67"  # the same number as people type it


async def web_member(chat, external_id: str, name: str, phone: str = TYPED, **kw) -> ChatUser:  # type: ignore[no-untyped-def]
    """Someone who joined in the web chat, where a phone can only be typed."""
    person = chat(external_id, channel=WEB_LIKE, name=name, **kw)
    await person.sign_up(phone=phone, birthday=None)
    return person


async def customer_named(app: Application, name: str) -> Customer:
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Customer).where(Customer.name == name))).scalar_one()


async def balance_of(app: Application, name: str) -> int:
    customer = await customer_named(app, name)
    async with app.core.unit_of_work() as uow:
        return await Ledger(uow, app.core.services.clock).balance(customer.id)


# --- the cashier ---------------------------------------------------------------------------

async def test_a_cashier_finds_a_customer_by_a_typed_phone_marked_not_verified(app, chat, clock):
    await web_member(chat, "w1", "Anna")
    kate = await hire(app, chat, clock)
    await kate.send("/checkout")
    screen = text_of(await kate.send(TYPED))
    assert "Покупатель: Anna" in screen
    assert "⚠️ Телефон не подтверждён: покупатель ввёл его сам. Сверьте имя." in screen
    assert "Введите сумму покупки" in screen
    assert button(await kate.send("1000"), "co.earn:")  # served as any customer


async def test_several_customers_who_typed_one_phone_are_listed_to_pick_from(app, chat, clock):
    await web_member(chat, "w1", "Anna")
    await web_member(chat, "w2", "Boris", phone=PHONE)
    anna, boris = await customer_named(app, "Anna"), await customer_named(app, "Boris")
    kate = await hire(app, chat, clock)
    await kate.send("/checkout")
    listing = await kate.send("+7 900 123 45 67")
    assert "Этот номер ввели несколько покупателей, и никто из них его не подтвердил" in text_of(listing)
    assert labels_of(listing) == [
        f"Anna · {format_card_number(anna.card_number)} · телефон не подтверждён",
        f"Boris · {format_card_number(boris.card_number)} · телефон не подтверждён"]
    screen = text_of(await kate.press(payloads_of(listing)[1]))
    assert "Покупатель: Boris" in screen and "Телефон не подтверждён" in screen
    assert button(await kate.send("1000"), "co.earn:")


async def test_a_verified_owner_of_the_phone_comes_before_those_who_typed_it(app, chat, clock):
    await web_member(chat, "w1", "Anna")
    await chat("42", name="Ivan").sign_up(phone=PHONE)  # shared from the messenger: verified
    kate = await hire(app, chat, clock)
    await kate.send("/checkout")
    screen = text_of(await kate.send(TYPED))
    assert "Покупатель: Ivan" in screen
    assert "не подтверждён" not in screen


async def test_the_cashier_finds_typed_phones_in_english(app, chat, clock):
    await web_member(chat, "w1", "Anna")
    kate = await hire(app, chat, clock, language="en")
    await kate.send("/checkout")
    screen = text_of(await kate.send(TYPED))
    assert "Customer: Anna" in screen
    assert "⚠️ Phone not verified: the customer typed it. Check the name." in screen
    await web_member(chat, "w2", "Boris")
    await kate.send("/checkout")
    listing = await kate.send(PHONE)
    assert "Several customers typed this phone number, and none of them has verified it" in text_of(listing)
    assert [label.rpartition(" · ")[2] for label in labels_of(listing)] == ["phone not verified"] * 2
    assert "Customer: Boris" in text_of(await kate.press(payloads_of(listing)[1]))


# --- the welcome bonus -------------------------------------------------------------------------

async def test_the_welcome_bonus_is_paid_once_per_phone_number(app, chat):
    anna = chat("w1", channel=WEB_LIKE, name="Anna")
    assert "Приветственный бонус: +100 баллов." in text_of(
        await anna.sign_up(phone=TYPED, birthday=None))

    second = text_of(await chat("w2", channel=WEB_LIKE, name="Boris").sign_up(phone=PHONE, birthday=None))
    assert "Добро пожаловать в программу, Boris!" in second
    assert "Приветственный бонус начисляется один раз на номер телефона, а на этот номер он уже " \
           "был начислен." in second
    verified = text_of(await chat("42", name="Ivan").sign_up(phone=PHONE))  # the same number, shared
    assert "один раз на номер телефона" in verified and "+100" not in verified

    await anna.press("settings:delete:confirm")  # gone, and back with the same typed number
    assert "один раз на номер телефона" in text_of(await anna.sign_up(phone=PHONE, birthday=None))
    assert "+100 баллов" in text_of(
        await chat("w3", channel=WEB_LIKE, name="Dora").sign_up(phone="+79007654321", birthday=None))
    assert [await balance_of(app, name) for name in ("Boris", "Ivan", "Dora")] == [0, 0, 100]


async def test_a_card_welcomed_before_the_numbers_were_kept_still_counts(app, chat):
    """Cards that got their bonus before ``welcomed_phones`` existed left no row there."""
    await web_member(chat, "w1", "Anna")
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(delete(WelcomedPhone))
        await uow.commit()
    text = text_of(await chat("w2", channel=WEB_LIKE, name="Boris").sign_up(phone=PHONE, birthday=None))
    assert "один раз на номер телефона" in text
    assert await balance_of(app, "Boris") == 0


async def test_the_welcome_bonus_once_per_number_in_english(app, chat):
    await web_member(chat, "w1", "Anna", language="en")
    text = text_of(await chat("w2", channel=WEB_LIKE, name="Boris", language="en").sign_up(
        phone=PHONE, birthday=None))
    assert "Welcome to the program, Boris!" in text
    assert "The welcome bonus is given once per phone number, and this number has already had it." in text
