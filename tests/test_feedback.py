"""Feedback after a purchase: a 1–5 rating, the review bonus once, an optional comment, and
the admins alerted at once about a low rating, who answer the customer through the bot or
give points from the alert."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bot.core.replies import Reply
from bot.handlers.notices import purchase_notice
from bot.loyalty.cards import format_card_number
from bot.loyalty.checkout import Checkout, PurchaseResult
from bot.storage.models import AuditEntry, Customer, Review
from tests.chat import payloads_of, text_of

IVAN_PHONE = "+79001234567"


@dataclass
class Recorder:
    """A channel that only records what the notifier sends."""

    sent: list[tuple[str, list[Reply]]] = field(default_factory=list)

    async def send(self, recipient: str, replies: list[Reply], message_id: int | None = None) -> None:
        self.sent.append((recipient, replies))

    deliver = send  # what the outbox sender calls

    def texts_to(self, recipient: str) -> list[str]:
        return [text_of(replies) for who, replies in self.sent if who == recipient]


def record_telegram(app) -> Recorder:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    app.core.notifier.channels["telegram"] = recorder
    return recorder


async def customer_by_phone(app, phone: str = IVAN_PHONE) -> Customer:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        stmt = select(Customer).where(Customer.phone == phone)
        return (await uow.session.execute(stmt)).scalar_one()


async def buy(app, phone: str, receipt: str,  # type: ignore[no-untyped-def]
              amount: int = 1500_00) -> PurchaseResult:
    """A purchase recorded by the Checkout service, as a till or a cashier would."""
    customer = await customer_by_phone(app, phone)
    async with app.core.unit_of_work() as uow:
        outlet = (await uow.outlets.default()).id
        result = await Checkout(uow, app.core.services.clock, app.settings.program).purchase(
            customer_id=customer.id, outlet_id=outlet, receipt_id=receipt, amount=amount)
        await uow.commit()
    return result


async def reviews(app) -> list[Review]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Review).order_by(Review.id))).scalars())


async def test_a_rating_from_the_purchase_notice_gives_points_once_and_takes_a_comment(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    bought = await buy(app, IVAN_PHONE, "R1")  # 45 points back
    notice = purchase_notice(bought, app.settings).render(app.core.services.i18n.translator("ru"))
    assert f"review:{bought.purchase_id}:5" in payloads_of(notice)

    replies = await ivan.press(f"review:{bought.purchase_id}:5")
    assert "Спасибо за оценку!" in text_of(replies) and "+20 баллов за отзыв" in text_of(replies)
    assert "feedback:skip" in payloads_of(replies)
    replies = await ivan.send("Очень вкусный кофе")
    assert "Спасибо, мы передали ваш комментарий" in text_of(replies)
    [review] = await reviews(app)
    assert (review.rating, review.comment) == (5, "Очень вкусный кофе")
    assert "Доступно: 165 баллов" in text_of(await ivan.press("balance"))  # 100 + 45 + 20
    assert "+20 бонус за отзыв" in text_of(ivan.last)


async def test_rating_the_same_visit_twice_is_refused_and_pays_nothing(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    bought = await buy(app, IVAN_PHONE, "R1")
    await ivan.press(f"review:{bought.purchase_id}:4")
    replies = await ivan.press(f"review:{bought.purchase_id}:5")
    assert "Вы уже оценили этот визит" in text_of(replies)
    assert [r.rating for r in await reviews(app)] == [4]
    assert "Доступно: 165 баллов" in text_of(await ivan.press("balance"))


async def test_someone_elses_rating_button_does_nothing(app, chat):
    ivan, maria = chat("42"), chat("43", name="Maria")
    await ivan.sign_up()
    await maria.sign_up(phone="+79007654321")
    bought = await buy(app, IVAN_PHONE, "R1")
    replies = await maria.press(f"review:{bought.purchase_id}:1")
    assert "Эта кнопка уже не действует" in text_of(replies)
    assert "Спасибо" not in text_of(replies)
    for forged in ("review:999:5", "review:x:5", f"review:{bought.purchase_id}:9", "review"):
        assert "Эта кнопка уже не действует" in text_of(await ivan.press(forged))
    assert await reviews(app) == []
    assert "Доступно: 100 баллов" in text_of(await maria.press("balance"))


async def test_a_low_rating_alerts_every_admin_at_once_and_the_comment_follows(app, chat, settings):
    owner = chat("1")
    await owner.send("/start")  # the configured admin has written to the bot once
    settings.admins = ["telegram:1"]
    sent = record_telegram(app)
    ivan = chat("42")
    await ivan.sign_up()
    bought = await buy(app, IVAN_PHONE, "R1")

    replies = await ivan.press(f"review:{bought.purchase_id}:2")
    assert "Что пошло не так?" in text_of(replies)
    [alert] = sent.texts_to("1")
    card = format_card_number((await customer_by_phone(app)).card_number)
    assert "Низкая оценка: 2 из 5" in alert
    assert f"Ivan Petrov, карта {card}" in alert
    assert "+79001234567" not in alert  # the phone stays out of admins' chat histories
    assert "1 500,00 ₽" in alert and "2 марта 2026 г." in alert and "Main" in alert
    assert sent.texts_to("42") == []  # the customer is not told about the alert

    await ivan.send("Долго ждал заказ")
    [_, comment] = sent.texts_to("1")
    assert f"Комментарий к оценке 2 из 5 от Ivan Petrov, карта {card}" in comment
    assert "Долго ждал заказ" in comment


async def test_an_invited_admin_is_alerted_too_and_a_good_rating_alerts_nobody(app, chat):
    from bot.app import admin_invite_links

    owner = chat("1")
    [link] = await admin_invite_links(app)
    await owner.send("/start " + link.split("?start=")[1])
    sent = record_telegram(app)
    ivan = chat("42")
    await ivan.sign_up()
    good = await buy(app, IVAN_PHONE, "R1")
    bad = await buy(app, IVAN_PHONE, "R2")
    await ivan.press(f"review:{good.purchase_id}:4")
    await ivan.send("Хорошо")
    assert sent.sent == []
    await ivan.press(f"review:{bad.purchase_id}:3")  # 3 is still low (low_rating_alert = 3)
    assert "Низкая оценка: 3 из 5" in sent.texts_to("1")[0]


async def test_skip_ends_the_comment_and_later_text_is_not_taken_as_one(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    bought = await buy(app, IVAN_PHONE, "R1")
    await ivan.press(f"review:{bought.purchase_id}:5")
    assert "Спасибо!" in text_of(await ivan.press("feedback:skip"))
    assert "Не совсем понял" in text_of(await ivan.send("ещё что-то"))
    [review] = await reviews(app)
    assert review.comment is None


async def test_a_comment_that_is_too_long_is_asked_again(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    bought = await buy(app, IVAN_PHONE, "R1")
    await ivan.press(f"review:{bought.purchase_id}:5")
    assert "до 1000 символов" in text_of(await ivan.send("x" * 1001))
    await ivan.send("Коротко")
    assert (await reviews(app))[0].comment == "Коротко"


async def test_the_feedback_menu_offers_the_latest_unrated_visit(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    assert "feedback" in payloads_of(await ivan.send("/menu"))
    assert "Сейчас нечего оценивать" in text_of(await ivan.press("feedback"))
    first = await buy(app, IVAN_PHONE, "R1", 500_00)
    clock.advance(days=1)
    second = await buy(app, IVAN_PHONE, "R2", 700_00)

    replies = await ivan.press("feedback")
    assert "Как вам визит 3 марта 2026 г. (700,00 ₽)?" in text_of(replies)
    assert "За оценку — 20 баллов" in text_of(replies)
    assert [p for p in payloads_of(replies) if p.startswith("review:")] == [
        f"review:{second.purchase_id}:{n}" for n in range(1, 6)]
    await ivan.press(f"review:{second.purchase_id}:5")
    assert f"review:{first.purchase_id}:5" in payloads_of(await ivan.send("/feedback"))
    await ivan.press(f"review:{first.purchase_id}:5")
    assert "Сейчас нечего оценивать" in text_of(await ivan.press("feedback"))


async def a_low_rating(app, chat, settings, language: str = "ru"):  # type: ignore[no-untyped-def]
    """Ivan rates his purchase 2 of 5 and comments; the admin (telegram:1) has the alerts."""
    owner = chat("1", name="Olga")
    settings.admins = ["telegram:1"]
    await owner.send("/start")
    sent = record_telegram(app)
    ivan = chat("42", language=language)
    await ivan.sign_up()
    bought = await buy(app, IVAN_PHONE, "R1")
    await ivan.press(f"review:{bought.purchase_id}:2")
    await ivan.send("Долго ждал заказ")
    return owner, sent, bought.purchase_id


async def audit_entries(app, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        stmt = select(AuditEntry).where(AuditEntry.action == action)
        return list((await uow.session.execute(stmt)).scalars())


async def test_the_admin_replies_to_a_low_rating_and_the_customer_gets_it_from_the_shop(
        app, chat, settings):
    owner, sent, purchase_id = await a_low_rating(app, chat, settings)
    customer = await customer_by_phone(app)
    alert, comment = [replies for who, replies in sent.sent if who == "1"]
    for replies in (alert, comment):
        assert payloads_of(replies) == [f"fb.re:{purchase_id}", f"cu.add:{customer.id}"]
    assert [b.label for row in alert[0].buttons for b in row] == ["↩️ Ответить", "🎁 Начислить баллы"]

    card = format_card_number(customer.card_number)
    asked = text_of(await owner.press(f"fb.re:{purchase_id}"))
    assert f"Ваш ответ клиенту Ivan Petrov (карта {card}), который оценил визит на 2 из 5." in asked
    assert "Комментарий клиента: «Долго ждал заказ»" in asked
    answer = "Иван, простите за ожидание! Следующий кофе за наш счёт."
    assert text_of(await owner.send(answer)) == "✅ Отправлено: Ivan Petrov."
    assert sent.texts_to("42")[-1] == (
        "💬 «Coffee Point» отвечает на вашу оценку визита 2 марта 2026 г.:\n\n" + answer)
    [entry] = await audit_entries(app, "reply")
    assert entry.customer_id == customer.id and entry.details == {
        "purchase_id": purchase_id, "text": answer}

    before = len(sent.texts_to("42"))
    await owner.send("А это уже не ему")  # one message is the answer, not the next ones
    assert len(sent.texts_to("42")) == before


async def test_the_answer_comes_in_the_customers_language_and_cancel_sends_nothing(
        app, chat, settings):
    owner, sent, purchase_id = await a_low_rating(app, chat, settings, language="en")
    draft = next(p for p in payloads_of(await owner.press(f"fb.re:{purchase_id}"))
                 if p.startswith("fb.no:"))
    assert text_of(await owner.press(draft)) == "Отменено, ничего не отправлено."
    await owner.send("Не это")
    await owner.press(f"fb.re:{purchase_id}")
    await owner.send("Sorry, Ivan!")
    assert sent.texts_to("42")[-1] == (
        "💬 Coffee Point answers your rating of the visit on March 2, 2026:\n\nSorry, Ivan!")
    assert [text for text in sent.texts_to("42") if "Не это" in text] == []
    assert len(await audit_entries(app, "reply")) == 1


async def test_give_points_from_the_alert_is_the_cards_flow_audited_and_told(app, chat, settings):
    owner, sent, _purchase = await a_low_rating(app, chat, settings)
    customer = await customer_by_phone(app)
    asked = text_of(await owner.press(f"cu.add:{customer.id}"))
    assert "Сколько баллов начислить клиенту Ivan Petrov?" in asked
    await owner.send("50")
    replies = await owner.send("Извинение за ожидание")
    await owner.press(next(p for p in payloads_of(replies) if p.startswith("cu.ok:")))
    assert sent.texts_to("42")[-1] == "Вам начислено 50 баллов. Баланс: 215 баллов."
    [entry] = await audit_entries(app, "points")
    assert (entry.customer_id, entry.details["points"], entry.details["reason"]) == (
        customer.id, 50, "Извинение за ожидание")


async def test_only_admins_can_answer(app, chat, settings):
    _owner, _sent, purchase_id = await a_low_rating(app, chat, settings)
    ivan = chat("42")
    assert "только администратор" in text_of(await ivan.press(f"fb.re:{purchase_id}"))
    await ivan.send("Ответ себе")
    assert await audit_entries(app, "reply") == []
