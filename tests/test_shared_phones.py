"""Unverified phones, as people see them: a cashier finds a customer by a typed phone
(marked as not verified; picked from a list when several people typed it); the welcome
bonus is paid once per phone number; a member verifies a typed phone by sharing it; two
cards with one phone are put to the admins, who merge them (everything moves to the
verified card, the day book still holds, the other card number stops working) or keep
them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select

from bot.app import Application, build
from bot.core.context import ChannelInfo
from bot.core.replies import AskContact
from bot.loyalty.cards import format_card_number
from bot.loyalty.checkout import Checkout
from bot.loyalty.ledger import Ledger
from bot.storage import day_book
from bot.storage.models import (
    AuditEntry,
    Customer,
    Identity,
    PointLot,
    PointOperation,
    Purchase,
    Review,
    SharedPhone,
    WelcomedPhone,
)
from tests.chat import OWNER, TELEGRAM_LIKE, WEB_LIKE, ChatUser, owner_settings, payloads_of, text_of
from tests.test_cashier_chat import button, hire, labels_of
from tests.test_velocity import Messenger

PHONE = "+79001234567"
TYPED = "8 (900) 123-45-67"  # the same number as people type it
VIBER_LIKE = ChannelInfo("viber", True, deep_link=lambda p: f"viber://?start={p}", typed_phone=True)


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
    assert ("Приветственный бонус начисляется один раз на номер телефона, а на этот номер он уже "
            "был начислен.") in second
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


# --- verifying one's own typed phone -------------------------------------------------------------

async def viber_member_with_a_typed_phone(chat, language: str = "ru") -> ChatUser:  # type: ignore[no-untyped-def]
    vera = chat("v1", channel=VIBER_LIKE, name="Vera", language=language)
    await vera.send("/start")
    await vera.press("consent:yes")
    await vera.send(TYPED)  # Viber takes a typed phone too: not verified
    await vera.press("name:profile")
    await vera.press("birthday:skip")
    return vera


async def test_a_member_verifies_a_typed_phone_by_sharing_it(app, chat):
    vera = await viber_member_with_a_typed_phone(chat)
    assert not (await customer_named(app, "Vera")).phone_verified
    ask = await vera.press(button(await vera.press("settings"), "phone.verify"))
    assert isinstance(ask[-1], AskContact)
    assert "Это не ваш контакт" in text_of(await vera.share_contact("+79990001122", own=False))
    assert not (await customer_named(app, "Vera")).phone_verified

    assert "Спасибо, номер телефона подтверждён" in text_of(await vera.share_contact(PHONE))
    customer = await customer_named(app, "Vera")
    assert (customer.phone, customer.phone_verified) == (PHONE, True)
    assert "phone.verify" not in payloads_of(await vera.press("settings"))
    assert "уже подтверждён" in text_of(await vera.share_contact(PHONE))

    telegram = chat("42", name="Vera")  # the verified number now links her card elsewhere
    await telegram.send("/start")
    await telegram.press("consent:yes")
    assert "Этот мессенджер теперь привязан к вашей карте" in text_of(await telegram.share_contact(PHONE))
    async with app.core.unit_of_work() as uow:
        assert await uow.session.scalar(select(func.count(Customer.id))) == 1


async def test_verifying_in_english_and_nothing_to_verify_in_the_web_chat(app, chat):
    vera = await viber_member_with_a_typed_phone(chat, language="en")
    await vera.press("phone.verify")
    assert "Thank you, your phone number is verified" in text_of(await vera.share_contact(PHONE))
    anna = await web_member(chat, "w1", "Anna", phone="+79007654321")
    assert "phone.verify" not in payloads_of(await anna.press("settings"))  # no button to prove it


async def test_a_number_verified_on_another_card_is_not_taken_over(app, chat):
    await chat("42", name="Ivan").sign_up(phone=PHONE)
    vera = await viber_member_with_a_typed_phone(chat)
    answer = text_of(await vera.share_contact(PHONE))
    assert "Этот номер подтверждён на другой карте. Мы попросили магазин проверить" in answer
    assert not (await customer_named(app, "Vera")).phone_verified
    assert (await customer_named(app, "Ivan")).phone_verified


# --- two cards, one phone: the admins decide ---------------------------------------------------------

class Shop:
    """The app on one database with its admin (the owner, telegram:1) and a recorder in
    place of Telegram; people write through the real core."""

    def __init__(self, app: Application, messenger: Messenger) -> None:
        self.app, self.messenger = app, messenger
        self.clock = app.core.services.clock

    def person(self, external_id: str, channel: ChannelInfo = TELEGRAM_LIKE, **kw) -> ChatUser:  # type: ignore[no-untyped-def]
        return ChatUser(self.app.core, channel, external_id, flush=self.app.outbox.send_due, **kw)

    def alerts(self) -> list:  # type: ignore[type-arg]
        return [replies for who, replies in self.messenger.sent
                if who == OWNER and "👥" in text_of(replies)]

    def told(self, who: str) -> str:
        return "\n".join(text_of(replies) for to, replies in self.messenger.sent if to == who)

    async def buy(self, customer_id: int, receipt: str, amount: int) -> int:
        async with self.app.core.unit_of_work() as uow:
            result = await Checkout(uow, self.clock, self.app.settings.program).purchase(
                customer_id=customer_id, outlet_id=(await uow.outlets.default()).id,
                receipt_id=receipt, amount=amount * 100)
            await uow.commit()
        return result.purchase_id

    async def refund(self, receipt: str, amount: int) -> None:
        async with self.app.core.unit_of_work() as uow:
            await Checkout(uow, self.clock, self.app.settings.program).refund(
                outlet_id=(await uow.outlets.default()).id, receipt_id=receipt, amount=amount * 100)
            await uow.commit()

    async def rows(self, model: type, *where) -> list:  # type: ignore[no-untyped-def, type-arg]
        async with self.app.core.unit_of_work() as uow:
            return list((await uow.session.execute(select(model).where(*where))).scalars())


@pytest.fixture
async def shop(any_db_url: str, clock) -> AsyncIterator[Shop]:  # type: ignore[no-untyped-def]
    app = await build(owner_settings(any_db_url), clock)
    messenger = Messenger()
    app.core.notifier.channels["telegram"] = messenger
    try:
        yield Shop(app, messenger)
    finally:
        await app.close()


async def two_cards_of_anna(shop: Shop) -> tuple[ChatUser, ChatUser, ChatUser]:
    """Anna joins in the web chat (typed phone, birthday given), buys four times, rates a
    visit and invites a friend; a week later she joins again in Telegram, sharing the same
    number (verified), and buys once there."""
    owner = shop.person(OWNER, name="Olga")
    await owner.send("/start")
    web = shop.person("w1", channel=WEB_LIKE, name="Anna")
    await web.sign_up(phone=TYPED, birthday="14.03.1990")
    typed = await customer_named(shop.app, "Anna")
    link = text_of(await web.press("friends"))
    code = link[link.index("ref-"):].split()[0]
    friend = shop.person("w2", channel=WEB_LIKE, name="Fedor")
    await friend.send(f"/start {code}")
    await friend.press("consent:yes")
    await friend.send("+79005550000")
    await friend.press("name:profile")
    await friend.press("birthday:skip")
    for day in range(4):
        purchase = await shop.buy(typed.id, f"W{day}", 1000)
        shop.clock.advance(days=1)
    await shop.refund("W0", 400)
    await web.press(f"review:{purchase}:5")
    shop.clock.advance(days=7)
    telegram = shop.person("42", name="Anna")
    joined = text_of(await telegram.sign_up(phone=PHONE, birthday=None))
    assert "один раз на номер телефона" in joined  # the web card had the welcome bonus
    assert "Этот номер телефона указан ещё на одной карте" in joined
    verified = (await shop.rows(Customer, Customer.phone_verified.is_(True)))[0]
    await shop.buy(verified.id, "T1", 2000)
    return owner, web, telegram


async def ledger_of(shop: Shop, customer_id: int) -> tuple[int, list[tuple]]:  # type: ignore[type-arg]
    async with shop.app.core.unit_of_work() as uow:
        balance = await Ledger(uow, shop.clock).balance(customer_id)
    lots = sorted((lot.reason, lot.amount, lot.remaining, lot.expires_at)
                  for lot in await shop.rows(PointLot, PointLot.customer_id == customer_id))
    return balance, lots


async def test_an_admin_merges_the_typed_card_into_the_verified_one(shop: Shop):
    owner, web, _telegram = await two_cards_of_anna(shop)
    [typed, verified] = sorted(await shop.rows(Customer, Customer.phone == PHONE),
                               key=lambda c: c.phone_verified)
    typed_balance, typed_lots = await ledger_of(shop, typed.id)
    verified_balance, verified_lots = await ledger_of(shop, verified.id)
    assert typed_balance > 0 and verified_balance > 0
    old_card, card = format_card_number(typed.card_number), format_card_number(verified.card_number)

    assert f"Телефон: {PHONE} (не подтверждён)" in text_of(await owner.send(f"/customer {old_card}"))
    [alert] = shop.alerts()
    text = text_of(alert)
    assert f"👥 У двух карт один телефон {PHONE}:" in text
    assert f"• карта {card} «Anna» (Telegram; 0 баллов, 0 покупок), телефон подтверждён" in text
    assert f"• карта {old_card} «Anna» (Веб-чат; " in text and "4 покупки), телефон не подтверждён" in text
    assert [p.partition(":")[0] for p in payloads_of(alert)] == ["merge.yes", "merge.no"]

    done = text_of(await owner.press(button(alert, "merge.yes:")))
    assert f"✅ Объединено: карта {old_card} теперь часть карты {card} (Anna)" in done
    assert "5 покупок, уровень Золото" in done

    survivor = next(c for c in await shop.rows(Customer) if c.name == "Anna")
    assert survivor.id == verified.id and survivor.card_number == verified.card_number
    assert (survivor.phone, survivor.phone_verified) == (PHONE, True)
    assert survivor.purchase_count == 5 and survivor.total_spent == (4 * 1000 - 400 + 2000) * 100
    assert (survivor.birth_day, survivor.birth_month, survivor.birth_year) == (14, 3, 1990)
    assert survivor.registered_at == typed.registered_at  # a member since the first card
    balance, lots = await ledger_of(shop, survivor.id)
    assert balance == typed_balance + verified_balance
    assert lots == sorted(typed_lots + verified_lots)  # expiry dates kept
    assert {i.channel for i in await shop.rows(Identity, Identity.customer_id == survivor.id)} == {
        "web", "telegram"}
    assert len(await shop.rows(Purchase, Purchase.customer_id == survivor.id)) == 5
    assert len(await shop.rows(PointOperation, PointOperation.customer_id == typed.id)) == 0
    assert [r.customer_id for r in await shop.rows(Review)] == [survivor.id]
    [fedor] = await shop.rows(Customer, Customer.name == "Fedor")
    assert fedor.referred_by == survivor.id

    [entry] = await shop.rows(AuditEntry, AuditEntry.action == "merge_cards")
    assert entry.customer_id == survivor.id and entry.actor_identity_id is not None
    assert entry.details["merged_card"] == typed.card_number
    assert (entry.details["points_moved"], entry.details["purchases_moved"]) == (typed_balance, 4)
    async with shop.app.core.unit_of_work() as uow:
        check = await day_book.check(uow.session)
    assert check.holds, check.lines()

    assert "Ваши две карты объединены в одну — карту № " + card in shop.told("42")
    assert "Карта № " + old_card + " больше не действует" in shop.told("42")
    assert card in text_of(await web.press("card"))  # the web chat shows the joined card
    await owner.send("/checkout")
    assert "Эта карта больше не действует" in text_of(await owner.send(typed.card_number))
    old_qr = shop.app.core.services.card_tokens.issue(typed.id, shop.clock.now())
    assert "Эта карта больше не действует" in text_of(await owner.send(f"/start card-{old_qr}"))
    assert "уже объединены" in text_of(await owner.press(button(alert, "merge.yes:")))
    assert "уже объединены" in text_of(await owner.press(button(alert, "merge.no:")))
    assert len(await shop.rows(AuditEntry, AuditEntry.action == "merge_cards")) == 1

    await shop.person("w9", channel=WEB_LIKE, name="Alla").sign_up(phone=PHONE, birthday=None)
    assert len(shop.alerts()) == 2  # a new card with the number is a new question
    alla = await customer_named(shop.app, "Alla")  # (on SQLite it may get the merged card's id)
    await owner.send("/checkout")
    assert "Покупатель: Alla" in text_of(await owner.send(alla.card_number))


async def test_kept_apart_the_cards_stay_and_nobody_is_asked_again(shop: Shop):
    owner, _web, _telegram = await two_cards_of_anna(shop)
    [alert] = shop.alerts()
    before = {c.id: c.purchase_count for c in await shop.rows(Customer, Customer.phone == PHONE)}
    assert "Карты оставлены раздельными" in text_of(await owner.press(button(alert, "merge.no:")))
    assert "уже оставлены раздельно" in text_of(await owner.press(button(alert, "merge.no:")))
    assert {c.id: c.purchase_count for c in await shop.rows(Customer, Customer.phone == PHONE)} == before
    [pair] = await shop.rows(SharedPhone)
    assert pair.status == "apart"
    assert [e.action for e in await shop.rows(AuditEntry)] == ["keep_cards_apart"]
    await shop.person("w9", channel=WEB_LIKE, name="Anna").sign_up(phone=PHONE, birthday=None)
    assert len(shop.alerts()) == 2  # a new card is a new question; the pair kept apart is not asked
    assert "Ваши две карты" not in shop.told("42")


async def test_the_admin_alert_and_the_merge_in_english(shop: Shop):
    owner = shop.person(OWNER, name="Olga", language="en")
    await owner.send("/start")
    web = shop.person("w1", channel=WEB_LIKE, name="Anna", language="en")
    await web.sign_up(phone=TYPED, birthday=None)
    shop.clock.advance(days=1)
    joined = text_of(await shop.person("42", name="Anna", language="en").sign_up(phone=PHONE))
    assert "Another card has this phone number typed in, not verified." in joined
    [alert] = shop.alerts()
    text = text_of(alert)
    assert f"👥 Two cards share the phone {PHONE}:" in text
    assert "(Web chat; 100 points, 0 purchases), phone not verified" in text
    assert "(Telegram; 0 points, 0 purchases), phone verified" in text
    done = text_of(await owner.press(button(alert, "merge.yes:")))
    assert "✅ Merged: card" in done and "100 points, 0 purchases" in done
    assert "Your two cards are joined into one, card №" in shop.told("42")
    async with shop.app.core.unit_of_work() as uow:
        assert (await day_book.check(uow.session)).holds


async def test_only_admins_merge(app, chat, clock):
    await web_member(chat, "w1", "Anna")
    await chat("42", name="Anna").sign_up(phone=PHONE)
    [pair] = await Shop(app, Messenger()).rows(SharedPhone)
    kate = await hire(app, chat, clock)
    for person in (kate, chat("42")):
        assert "только администратор" in text_of(await person.press(f"merge.yes:{pair.id}"))
    async with app.core.unit_of_work() as uow:
        assert await uow.session.scalar(select(func.count(Customer.id))) == 2
