"""The cashier in the chat: scan or type the card, the amount, earn or pay with points,
confirm; both sides are told; refunds; rewards; and nobody else gets in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build
from bot.config import Settings
from bot.console.invites import create_invite
from bot.core.replies import Reply
from bot.handlers import checkout_confirm
from bot.loyalty.cards import luhn_check_digit
from bot.loyalty.checkout import Checkout
from bot.loyalty.ledger import Ledger
from bot.storage.models import (
    Customer,
    Identity,
    PointOperation,
    Purchase,
    Refund,
    Staff,
    StaffInvite,
)
from tests.chat import TELEGRAM_LIKE, WEB_LIKE, ChatUser, payloads_of, text_of


@dataclass
class Outbox:
    """Stands in for the Telegram channel when the notifier delivers to customers."""

    name: str = "telegram"
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, recipient: str, replies: list[Reply], message_id: int | None = None) -> None:
        self.sent.append((recipient, text_of(list(replies))))

    deliver = send  # what the outbox sender calls

    def to(self, recipient: str) -> list[str]:
        return [text for who, text in self.sent if who == recipient]


@pytest.fixture
def outbox(app) -> Outbox:  # type: ignore[no-untyped-def]
    box = Outbox()
    app.core.notifier.channels["telegram"] = box
    return box


async def hire(app, chat, clock, external_id: str = "7", role: str = "cashier", **kw) -> ChatUser:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, role, None, clock.now())
        await uow.commit()
    person = chat(external_id, name="Kate", **kw)
    await person.send(f"/start {payload}")
    return person


async def customer(app) -> Customer:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Customer))).scalar_one()


async def identity_id(app, external_id: str) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(
            select(Identity.id).where(Identity.external_id == external_id))).scalar_one()


async def purchases(app) -> list[Purchase]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Purchase))).scalars())


async def balance(app) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return await Ledger(uow, app.core.services.clock).balance((await customer(app)).id)


async def give(app, points: int) -> None:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        await Ledger(uow, app.core.services.clock).earn(
            (await customer(app)).id, points, "gift", timedelta(days=30))
        await uow.commit()


async def customer_of(app, external_id: str) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(
            select(Identity.customer_id).where(Identity.external_id == external_id))).scalar_one()


async def points_of(app, external_id: str) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return await Ledger(uow, app.core.services.clock).balance(await customer_of(app, external_id))


async def give_to(app, external_id: str, points: int) -> None:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        await Ledger(uow, app.core.services.clock).earn(
            await customer_of(app, external_id), points, "gift", timedelta(days=30))
        await uow.commit()


async def footprint(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """How many rows the records a staff button could write have."""
    async with app.core.unit_of_work() as uow:
        return {table.__name__: await uow.session.scalar(select(func.count()).select_from(table))
                for table in (Purchase, PointOperation, Refund, Staff, StaffInvite)}


def labels_of(replies: list[Reply]) -> list[str]:
    return [b.label for reply in replies for row in getattr(reply, "buttons", ()) for b in row]


def button(replies: list[Reply], prefix: str) -> str:
    [payload] = [p for p in payloads_of(replies) if p.startswith(prefix)]
    return payload


async def scan(ivan: ChatUser, kate: ChatUser) -> list[Reply]:
    """The customer opens the card; the cashier scans its QR code (a /start card-… link)."""
    [card] = await ivan.press("card")
    return await kate.send(f"/start card-{card.cache_key}")


async def at_the_till(app, chat, clock) -> tuple[ChatUser, ChatUser]:  # type: ignore[no-untyped-def]
    """Ivan (a member with 100 points) at the till of Kate, a cashier who scanned his card."""
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock)
    await scan(ivan, kate)
    return ivan, kate


async def bought(kate: ChatUser, amount: str) -> str:
    """The cashier records a purchase of the customer at the till (earning points); its receipt."""
    result = await kate.press(button(await kate.press(button(await kate.send(amount), "co.earn:")),
                                     "co.ok:"))
    return button(result, "rf.ask:").partition(":")[2]


async def test_scan_amount_spend_confirm_and_both_are_told(app, chat, clock, outbox):
    ivan = chat("42")
    await ivan.sign_up()  # 100 welcome points
    kate = await hire(app, chat, clock)

    text = text_of(await scan(ivan, kate))
    assert "Покупатель: Ivan Petrov" in text
    assert "Уровень: Участник · Баланс: 100 баллов" in text
    assert "Введите сумму покупки, например 1500 или 1500,50" in text

    draft = await kate.send("4000")
    assert "Покупка: 4 000,00 ₽" in text_of(draft)
    # 4,000 × 15 % × Silver's 25 % = 150, but the balance is 100
    assert "Баллами можно оплатить до 100 баллов" in text_of(draft)
    choice = await kate.press(button(draft, "co.spend:"))
    assert "Сколько баллов списать?" in text_of(choice)
    summary = await kate.press(button(choice, "co.pay:"))
    text = text_of(summary)
    assert "Оплачено баллами: 100 баллов" in text
    assert "К оплате деньгами: 3 900,00 ₽" in text
    assert "Будет начислено: 117 баллов" in text  # 3 % of the 3,900 paid with money

    result = text_of(await kate.press(button(summary, "co.ok:")))
    assert "✅ Записано." in result
    assert "Начислено: +117 баллов" in result and "Баланс покупателя: 117 баллов" in result
    assert "Новый уровень: Серебро!" in result
    [notice] = outbox.to("42")
    assert "Спасибо за покупку на 4 000,00 ₽!" in notice
    assert "Оплачено баллами: 100 баллов." in notice and "Баланс: 117 баллов." in notice
    assert "Поздравляем, ваш новый уровень — Серебро!" in notice

    cashier = await identity_id(app, "7")
    [purchase] = await purchases(app)
    assert (purchase.source, purchase.actor_identity_id, purchase.amount) == ("chat", cashier, 400_000)
    assert purchase.receipt_id.startswith("C-") and len(purchase.receipt_id) == 8
    async with app.core.unit_of_work() as uow:
        operations = (await uow.session.execute(select(PointOperation).where(
            PointOperation.purchase_id == purchase.id))).scalars().all()
    assert sorted(op.amount for op in operations) == [-100, 117]
    assert {op.actor_identity_id for op in operations} == {cashier}  # the audit trail


async def test_typed_card_number_and_the_earn_path_in_english(app, chat, clock, outbox):
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock, language="en")
    number = (await customer(app)).card_number
    assert "card number or phone number" in text_of(await kate.send("/checkout"))
    text = text_of(await kate.send(f"{number[:4]} {number[4:8]} {number[8:]}"))
    assert "Customer: Ivan Petrov" in text and "Balance: 100 points" in text
    draft = await kate.send("1 500,50")
    summary = await kate.press(button(draft, "co.earn:"))
    assert "Points to earn: 45 points" in text_of(summary)
    assert "Paid with points" not in text_of(summary)
    result = text_of(await kate.press(button(summary, "co.ok:")))
    assert "Earned: +45 points" in result and "Customer's balance: 145 points" in result
    assert "Спасибо за покупку на 1 500,50 ₽!" in outbox.to("42")[0]  # in the customer's language


async def test_a_phone_finds_the_customer_and_typos_get_a_clear_answer(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up(phone="+79001234567")
    kate = await hire(app, chat, clock)
    await kate.send("/checkout")
    number = (await customer(app)).card_number
    typo = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert "опечатка" in text_of(await kate.send(typo))
    body = "12345678901"
    assert "нет" in text_of(await kate.send(body + luhn_check_digit(body)))  # valid, nobody's
    assert "Это не номер карты (12 цифр) и не номер телефона" in text_of(await kate.send("hello"))
    assert "Покупателя с таким номером" in text_of(await kate.send("+7 900 555-44-33"))
    assert "Покупатель: Ivan Petrov" in text_of(await kate.send("8 (900) 123-45-67"))


@pytest.mark.parametrize("typed, answer", [
    ("abc", "Введите её так: 1500 или 1500,50"),
    ("-5", "Введите её так: 1500 или 1500,50"),
    ("1e9", "Введите её так: 1500 или 1500,50"),
    ("1,500", "Введите её так: 1500 или 1500,50"),  # a thousand or one and a half? refused
    ("0", "Сумма должна быть больше нуля"),
    ("100000000", "слишком много для одной покупки"),
])
async def test_bad_amounts_are_explained_and_the_amount_is_asked_again(app, chat, clock, typed, answer):
    _, kate = await at_the_till(app, chat, clock)
    assert answer in text_of(await kate.send(typed))
    assert "Покупка: 1 500,00 ₽" in text_of(await kate.send("1500"))
    assert await purchases(app) == []


async def test_another_number_of_points_up_to_the_cap(app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    draft = await kate.send("4000")
    choice = await kate.press(button(draft, "co.spend:"))
    assert "сколько баллов списать: от 1 до 100 баллов." in text_of(
        await kate.press(button(choice, "co.other:")))
    assert "Введите целое число от 1 до 100 баллов." in text_of(await kate.send("500"))
    assert "Введите целое число от 1 до 100 баллов." in text_of(await kate.send("abc"))
    summary = await kate.send("40")
    assert "Оплачено баллами: 40 баллов" in text_of(summary)
    await kate.press(button(summary, "co.ok:"))
    assert [p.points_spent for p in await purchases(app)] == [40]


async def test_a_double_tap_on_confirm_records_once(app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    summary = await kate.press(button(await kate.send("1000"), "co.earn:"))
    confirm = button(summary, "co.ok:")
    await kate.press(confirm)
    again = text_of(await kate.press(confirm))
    assert "Эта покупка уже записана." in again and "Начислено: +30 баллов" in again
    assert len(await purchases(app)) == 1 and len(outbox.to("42")) == 1
    assert await balance(app) == 130


async def test_a_balance_that_shrank_meanwhile_shows_the_new_cap(app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    choice = await kate.press(button(await kate.send("4000"), "co.spend:"))
    summary = await kate.press(button(choice, "co.pay:"))
    async with app.core.unit_of_work() as uow:  # spent elsewhere in the meantime
        await Ledger(uow, clock).spend((await customer(app)).id, 70, "reward")
        await uow.commit()
    text = text_of(await kate.press(button(summary, "co.ok:")))
    assert "Баланс покупателя изменился: баллами теперь можно оплатить не больше 30 баллов" in text
    assert await purchases(app) == [] and outbox.sent == []
    choice = await kate.press(button(kate.last, "co.spend:"))
    await kate.press(button(await kate.press(button(choice, "co.pay:")), "co.ok:"))
    assert [p.points_spent for p in await purchases(app)] == [30]


async def test_cancel_records_nothing_and_old_buttons_are_stale(app, chat, clock):
    _, kate = await at_the_till(app, chat, clock)
    summary = await kate.press(button(await kate.send("1000"), "co.earn:"))
    assert "ничего не записано" in text_of(await kate.press(button(summary, "co.cancel:")))
    assert "уже закрыто" in text_of(await kate.press(button(summary, "co.ok:")))
    assert await purchases(app) == []


async def test_a_receipt_a_till_takes_meanwhile_gets_the_draft_a_new_one_on_postgresql(
        pg_migrated_url, clock, monkeypatch):
    """The confirmation checks the draft's receipt id, then records under the customer's lock.
    On PostgreSQL a till may record that receipt id in between (on SQLite the event's
    transaction holds the write lock from the start): the conflict reaches the handler, which
    gives the draft a new id and asks to confirm once more."""
    settings = Settings(database={"url": pg_migrated_url}, shop={"name": "Coffee Point"},
                        card={"secret": "test-signing-key-0123456789"})
    app = await build(settings, clock)
    try:
        def chat(external_id: str, **kw) -> ChatUser:  # type: ignore[no-untyped-def]
            return ChatUser(app.core, TELEGRAM_LIKE, external_id, **kw)

        ivan = chat("42")
        await ivan.sign_up()
        kate = await hire(app, chat, clock)
        await scan(ivan, kate)
        summary = await kate.press(button(await kate.send("1000"), "co.earn:"))
        taken = button(summary, "co.ok:").split(":")[1]
        real_checkout_of = checkout_confirm.checkout_of

        def racing_checkout_of(ctx):  # type: ignore[no-untyped-def]
            checkout = real_checkout_of(ctx)
            record = checkout.purchase

            async def till_first(**draft):  # type: ignore[no-untyped-def]
                async with app.core.unit_of_work() as uow:  # a till, in its own transaction
                    await Checkout(uow, clock, settings.program).purchase(
                        customer_id=draft["customer_id"], outlet_id=draft["outlet_id"],
                        receipt_id=draft["receipt_id"], amount=99_900)
                    await uow.commit()
                return await record(**draft)

            checkout.purchase = till_first
            return checkout

        monkeypatch.setattr(checkout_confirm, "checkout_of", racing_checkout_of)
        again = await kate.press(button(summary, "co.ok:"))
        monkeypatch.undo()
        assert "Проверьте и подтвердите" in text_of(again)
        assert button(again, "co.ok:").split(":")[1] != taken
        assert "✅ Записано." in text_of(await kate.press(button(again, "co.ok:")))
        recorded = sorted((p.amount, p.source, p.receipt_id == taken) for p in await purchases(app))
        assert recorded == [(99_900, "pos", True), (100_000, "chat", False)]
    finally:
        await app.close()


async def test_refund_in_full_from_the_result_message(app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    choice = await kate.press(button(await kate.send("4000"), "co.spend:"))
    result = await kate.press(button(await kate.press(button(choice, "co.pay:")), "co.ok:"))
    assert await balance(app) == 117
    receipt = button(result, "rf.ask:").partition(":")[2]

    ask = await kate.press(button(result, "rf.ask:"))
    assert f"Вернуть 4 000,00 ₽ по покупке {receipt}" in text_of(ask)
    done = text_of(await kate.press(button(ask, "rf.ok:")))
    assert f"Возвращено 4 000,00 ₽ по покупке {receipt}" in done
    assert "Баллы возвращены: +100 баллов" in done and "Баллы списаны: −117 баллов" in done
    assert "Баланс покупателя: 100 баллов" in done
    assert await balance(app) == 100
    assert f"Оформлен возврат по покупке {receipt}: 4 000,00 ₽." in outbox.to("42")[-1]

    assert "уже оформлен" in text_of(await kate.press(button(ask, "rf.ok:")))  # a double tap
    assert await balance(app) == 100 and len(outbox.to("42")) == 2
    assert "уже возвращена полностью" in text_of(await kate.send(f"/refund {receipt}"))


async def test_partial_refund_by_command_and_its_errors(app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    receipt = await bought(kate, "4000")
    assert await balance(app) == 220

    assert "/refund <чек>" in text_of(await kate.send("/refund"))
    assert "Покупки с чеком C-ZZZZZZ в этой точке нет" in text_of(await kate.send("/refund C-ZZZZZZ"))
    assert "не больше 4 000,00 ₽" in text_of(await kate.send(f"/refund {receipt} 5000"))
    assert "1500 или 1500,50" in text_of(await kate.send(f"/refund {receipt} lots"))
    ask = await kate.send(f"/refund {receipt.lower()} 1000")  # typed as the cashier heard it
    assert f"Вернуть 1 000,00 ₽ по покупке {receipt} (4 000,00 ₽)" in text_of(ask)
    done = text_of(await kate.press(button(ask, "rf.ok:")))
    assert "Баллы списаны: −30 баллов" in done and await balance(app) == 190
    async with app.core.unit_of_work() as uow:
        operation = (await uow.session.execute(select(PointOperation).where(
            PointOperation.reason == "refund"))).scalar_one()
    assert operation.actor_identity_id == await identity_id(app, "7")
    ask = await kate.send(f"/refund {receipt[2:]}")  # without the "C-"
    assert f"Вернуть 3 000,00 ₽ по покупке {receipt}" in text_of(ask)
    assert "Возврат отменён" in text_of(await kate.press(button(ask, "rf.no:")))
    assert "уже закрыт" in text_of(await kate.press(button(ask, "rf.ok:")))


async def test_the_cashier_gives_a_reward_paid_with_points(app, chat, clock, outbox):
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock)
    assert "co.gifts" not in payloads_of(await scan(ivan, kate))  # 100 points buy nothing yet
    await give(app, 100)
    screen = await scan(ivan, kate)
    rewards = await kate.press(button(screen, "co.gifts"))
    assert "Покупатель: Ivan Petrov, баланс: 200 баллов" in text_of(rewards)
    assert labels_of(rewards) == ["Чашка кофе — 150 баллов", "✖ Отмена"]  # no dessert: 250
    ask = await kate.press(button(rewards, "co.gift:"))
    assert "Выдать «Чашка кофе» за 150 баллов? Покупатель: Ivan Petrov." in text_of(ask)
    given = text_of(await kate.press(button(ask, "co.give:")))
    assert "Выдано: Чашка кофе. Баланс покупателя: 50 баллов." in given
    assert "уже выдан" in text_of(await kate.press(button(ask, "co.give:")))
    assert await balance(app) == 50
    assert "Ваш подарок: Чашка кофе! Оплачено баллами: 150 баллов. Баланс: 50 баллов." in outbox.to("42")
    async with app.core.unit_of_work() as uow:
        operation = (await uow.session.execute(select(PointOperation).where(
            PointOperation.reason == "reward"))).scalar_one()
    assert (operation.amount, operation.actor_identity_id) == (-150, await identity_id(app, "7"))
    draft = text_of(await kate.send("300"))  # and the purchase that goes with it
    assert "Покупка: 300,00 ₽" in draft and "Баланс: 50 баллов" in draft


async def test_an_old_screen_of_another_customer_acts_on_nobody(app, chat, clock, outbox):
    """The cashier scans Ivan, then Olga, then taps a button on Ivan's old screen."""
    ivan, olga = chat("42"), chat("43", name="Olga")
    await ivan.sign_up()
    await olga.sign_up(phone="+79001112233")
    await give_to(app, "42", 100)
    await give_to(app, "43", 100)  # 200 points each: a cup of coffee (150) for either
    kate = await hire(app, chat, clock)
    ivan_screen = await scan(ivan, kate)
    ivan_rewards = await kate.press(button(ivan_screen, "co.gifts"))
    assert "Покупатель: Ivan Petrov" in text_of(ivan_rewards)
    olga_screen = await scan(olga, kate)
    assert "Покупатель: Olga" in text_of(olga_screen)
    before = await footprint(app)

    for stale in (button(ivan_screen, "co.gifts"), button(ivan_rewards, "co.gift:"),
                  button(ivan_rewards, "co.cancel:"), button(ivan_screen, "co.cancel:")):
        assert "Этот экран устарел" in text_of(await kate.press(stale)), stale
    assert await footprint(app) == before
    assert (await points_of(app, "42"), await points_of(app, "43")) == (200, 200)
    assert outbox.sent == []

    # Olga's checkout is still open, and its own buttons name her
    assert "Покупатель: Olga" in text_of(await kate.send("300"))
    rewards = await kate.press(button(kate.last, "co.gifts"))
    ask = await kate.press(button(rewards, "co.gift:"))
    assert "Выдать «Чашка кофе» за 150 баллов? Покупатель: Olga." in text_of(ask)
    await kate.press(button(ask, "co.give:"))
    assert (await points_of(app, "42"), await points_of(app, "43")) == (200, 50)


async def test_a_refund_confirmed_after_another_refund_refunds_only_what_was_shown(
        app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    receipt = await bought(kate, "4000")
    ask = await kate.send(f"/refund {receipt}")  # the rest: all of it
    assert f"Вернуть 4 000,00 ₽ по покупке {receipt}" in text_of(ask)

    anna = await hire(app, chat, clock, "8")  # meanwhile another cashier refunds a part
    await anna.press(button(await anna.send(f"/refund {receipt} 1000"), "rf.ok:"))
    assert await balance(app) == 190

    text = text_of(await kate.press(button(ask, "rf.ok:")))
    assert f"Покупка {receipt} с тех пор изменилась: по ней можно вернуть только 3 000,00 ₽" in text
    assert "Ничего не возвращено" in text
    [purchase] = await purchases(app)
    assert purchase.refunded_amount == 100_000 and await balance(app) == 190
    assert (await footprint(app))["Refund"] == 1
    assert "Вернуть 3 000,00 ₽" in text_of(await kate.send(f"/refund {receipt}"))


async def test_a_refund_refused_for_another_reason_is_not_called_an_unknown_receipt(
        app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    receipt = await bought(kate, "4000")
    ask = await kate.send(f"/refund {receipt} 1000")
    key = button(ask, "rf.ok:").partition(":")[2]
    [purchase] = await purchases(app)
    async with app.core.unit_of_work() as uow:  # the same refund key, recorded with 500,00 ₽
        await Checkout(uow, clock, app.core.services.settings.program).refund(
            outlet_id=purchase.outlet_id, receipt_id=receipt, amount=50_000, refund_key=key)
        await uow.commit()
    text = text_of(await kate.press(button(ask, "rf.ok:")))
    assert "Этот возврат уже оформлен" in text and "Покупки с чеком" not in text
    [purchase] = await purchases(app)
    assert purchase.refunded_amount == 50_000


async def test_a_customer_scanning_a_card_learns_only_that_it_is_a_loyalty_card(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    anna = chat("43", name="Anna")
    await anna.sign_up(phone="+79001112233")
    text = text_of(await scan(ivan, anna))
    assert text == "Это карта программы лояльности «Coffee Point»."
    stranger = text_of(await scan(ivan, chat("44")))
    assert "Это карта программы лояльности" in stranger and "Ivan" not in stranger


async def test_a_forged_or_expired_qr_code_is_refused_politely(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock)
    refused = "Этот QR-код больше не действует. Попросите покупателя заново открыть карту"
    assert refused in text_of(await kate.send("/start card-AAAAforged"))
    [card] = await ivan.press("card")
    clock.advance(hours=1)
    text = text_of(await kate.send(f"/start card-{card.cache_key}"))
    assert refused in text and "Ivan" not in text


@pytest.mark.parametrize("typed", ["/checkout", "/refund C-AAAAAA", "/invite cashier", "/staff"])
async def test_customers_are_refused_staff_commands(app, chat, clock, typed):
    ivan = chat("42")
    await ivan.sign_up()
    assert "Извините, это" in text_of(await ivan.send(typed))
    assert "Извините, это" in text_of(await chat("99").send(typed))  # not even a member


@pytest.mark.parametrize("payload", ["co.start", "co.ok:C-AAAAAA:0", "co.earn:C-AAAAAA", "co.gifts:1",
                                     "co.gift:1:coffee", "co.give:abcd", "co.pay:C-AAAAAA:100",
                                     "co.cancel:1:", "rf.ask:C-AAAAAA", "rf.ok:abcd", "staff.list",
                                     "staff.rm:1", "staff.rm-ok:1"])
async def test_customers_pressing_stale_staff_buttons_are_refused(app, chat, clock, payload):
    await hire(app, chat, clock)  # identity 1: a cashier «staff.rm-ok:1» would remove
    ivan = chat("42")
    await ivan.sign_up()
    await give(app, 100)  # enough for a reward
    before = await footprint(app)
    assert "Извините, это" in text_of(await ivan.press(payload))
    assert await footprint(app) == before  # no purchase, no points, no refund, nobody removed
    assert await balance(app) == 200


async def test_a_cashier_removed_mid_checkout_can_not_go_on(app, chat, clock, outbox):
    _, kate = await at_the_till(app, chat, clock)
    summary = await kate.press(button(await kate.send("1000"), "co.earn:"))
    owner = await hire(app, chat, clock, "1", "admin")
    kate_id = await identity_id(app, "7")
    await owner.press(f"staff.rm-ok:{kate_id}")
    assert "только для сотрудников" in text_of(await kate.press(button(summary, "co.ok:")))
    assert "только для сотрудников" in text_of(await kate.send("2000"))
    assert await purchases(app) == []
    assert "co.start" not in payloads_of(await kate.send("/start"))  # no desk any more


async def test_staff_see_the_checkout_on_start(app, chat, clock):
    kate = await hire(app, chat, clock)
    replies = await kate.send("/start")
    assert "/checkout" in text_of(replies) and "co.start" in payloads_of(replies)
    assert "consent:yes" in payloads_of(replies)  # and may join as a customer
    await kate.sign_up(phone="+79007654321")
    replies = await kate.send("/start")
    assert "card" in payloads_of(replies) and "co.start" in payloads_of(replies)
    assert "staff.list" not in payloads_of(replies)  # for admins only
    ivan = chat("42")
    await ivan.sign_up()
    assert "co.start" not in payloads_of(await ivan.send("/start"))


async def test_purchases_count_by_outlet_receipt(app, chat, clock, outbox):
    ivan = chat("42")
    await ivan.sign_up()
    kate = await hire(app, chat, clock)
    for amount in ("100", "200"):
        await scan(ivan, kate)
        await kate.press(button(await kate.press(button(await kate.send(amount), "co.earn:")), "co.ok:"))
    async with app.core.unit_of_work() as uow:
        count = await uow.session.scalar(select(func.count(func.distinct(Purchase.receipt_id))))
    assert count == 2


async def test_the_same_flow_in_the_web_chat(app, chat, clock):
    ivan = chat("w-42", channel=WEB_LIKE)
    await ivan.sign_up(phone="+79001234567")  # typed, so unverified: found, and marked so
    kate = await hire(app, chat, clock, "w-7", channel=WEB_LIKE)
    await kate.send("/checkout")
    screen = text_of(await kate.send("+79001234567"))
    assert "Ivan Petrov" in screen and "Телефон не подтверждён" in screen
    await kate.send("/checkout")
    assert "не подтверждён" in text_of(await kate.send((await customer(app)).card_number))
    summary = await kate.press(button(await kate.send("1000"), "co.earn:"))
    assert "Начислено: +30 баллов" in text_of(await kate.press(button(summary, "co.ok:")))
    assert [p.source for p in await purchases(app)] == ["chat"]


async def test_a_cashier_cannot_list_customers_by_forging_buttons(app, chat, clock, outbox):
    """«Purchase for this customer» works for the cashier it was shown to; a made-up
    ``co.customer:<id>`` (or one shown to someone else) shows nobody's card or balance."""
    ivan = chat("42")
    await ivan.sign_up()
    await give(app, 100)
    kate = await hire(app, chat, clock)
    screen = await scan(ivan, kate)
    rewards = await kate.press(button(screen, "co.gifts"))
    ask = await kate.press(button(rewards, "co.gift:"))
    given = await kate.press(button(ask, "co.give:"))
    again = button(given, "co.customer:")
    assert "Ivan Petrov" in text_of(await kate.press(again))  # the real button works
    customer = (await identity_id(app, "42"))  # any id will do for a forger
    for forged in (f"co.customer:{customer}", f"co.customer:{customer}:0000", "co.customer:1"):
        assert "Ivan Petrov" not in text_of(await kate.press(forged))
    olga = await hire(app, chat, clock, external_id="8")
    assert "Ivan Petrov" not in text_of(await olga.press(again))  # shown to Kate, not Olga
