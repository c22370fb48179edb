"""/customer for admins: find someone by phone, card or name, read the card, add or take
points with a reason (audited, the customer told), fix the birthday; stale buttons and a
second tap change nothing, and customers are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.loyalty.cards import format_card_number, luhn_check_digit
from bot.loyalty.ledger import Ledger
from bot.storage.models import AuditEntry, Customer, Identity, PointOperation
from tests.chat import OWNER, ChatUser, owner_settings, payloads_of, text_of
from tests.test_cashier_chat import outbox  # noqa: F401 - a fixture

REFUSAL = "Извините, это может сделать только администратор."


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


@pytest.fixture
async def member(chat) -> ChatUser:  # type: ignore[no-untyped-def]
    """Ivan Petrov, +7 900 123-45-67, born 14.03.1990, with the welcome bonus of 100."""
    person = chat("42")
    await person.sign_up()
    return person


@pytest.fixture
def owner(chat) -> ChatUser:  # type: ignore[no-untyped-def]
    return chat(OWNER, name="Olga")


async def rows(app, model, *where):  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(model).where(*where))).scalars())


async def the_customer(app) -> Customer:  # type: ignore[no-untyped-def]
    [customer] = await rows(app, Customer)
    return customer


async def add_people(app, clock, *names: str) -> None:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        for n, name in enumerate(names):
            body = f"40000000{n:03d}"
            uow.session.add(Customer(card_number=body + luhn_check_digit(body), name=name,
                                     consent_at=clock.now(), registered_at=clock.now(),
                                     created_at=clock.now()))
        await uow.commit()


async def balance(app, customer_id: int) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return await uow.lots.available_balance(customer_id, app.core.services.clock.now())


async def change(owner: ChatUser, customer_id: int, op: str, amount: str, reason: str) -> str:
    """Goes through «Add/Take points» up to the confirmation; returns «Confirm»'s payload."""
    await owner.press(f"cu.{op}:{customer_id}")
    await owner.send(amount)
    replies = await owner.send(reason)
    [confirm] = [p for p in payloads_of(replies) if p.startswith("cu.ok:")]
    return confirm


@pytest.mark.parametrize("typed", ["+79001234567", "8 (900) 123-45-67", "9001234567"])
async def test_a_phone_in_any_common_format_opens_the_card(app, member, owner, typed):
    replies = await owner.send(f"/customer {typed}")
    customer = await the_customer(app)
    text = text_of(replies)
    for line in ("👤 Ivan Petrov", f"Карта: {format_card_number(customer.card_number)}",
                 "Телефон: +79001234567", "Уровень: Участник",
                 "Баланс: доступно 100 баллов, ожидают начисления 0",
                 "Покупок: 0, на сумму 0,00 ₽", "День рождения: 14.03.1990",
                 "Каналы: Telegram", "Регистрация: 2 марта 2026 г.",
                 "Сгорят раньше всего:\n• 100 баллов — 31 мая 2026 г.",
                 "Последние операции:\n• 2 марта 2026 г. +100 приветственный бонус"):
        assert line in text
    assert payloads_of(replies) == [f"cu.add:{customer.id}", f"cu.take:{customer.id}",
                                    f"cu.bday:{customer.id}", f"blk.card:{customer.id}"]


async def test_the_card_number_with_spaces_and_a_wrong_check_digit(app, member, owner):
    card = (await the_customer(app)).card_number
    assert "👤 Ivan Petrov" in text_of(await owner.send(f"/customer {format_card_number(card)}"))
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert "никого не нашли" in text_of(await owner.send(f"/customer {wrong}"))


async def test_names_case_insensitive_cyrillic_too_and_a_list_to_pick_from(app, clock, owner):
    await add_people(app, clock, "Иван Сидоров", "Мария Иванова", "Пётр")
    replies = await owner.send("/customer иван")
    assert text_of(replies).startswith("Найдено: 2. Выберите клиента:")
    labels = [b.label for r in replies for row in r.buttons  # type: ignore[union-attr]
              for b in row]
    assert [label.split(" · ")[0] for label in labels] == ["Иван Сидоров", "Мария Иванова"]
    picked = await owner.press(payloads_of(replies)[0])
    assert "👤 Иван Сидоров" in text_of(picked)
    assert "👤 Пётр" in text_of(await owner.send("/customer ПЁТР"))


async def test_more_than_ten_matches_asks_to_refine(app, clock, owner):
    await add_people(app, clock, *(f"Anna {n:02d}" for n in range(12)))
    replies = await owner.send("/customer ANNA")
    assert "Уточните запрос" in text_of(replies)
    assert len(payloads_of(replies)) == 10


async def test_a_bare_command_gets_a_hint_and_nobody_a_polite_answer(app, member, owner):
    assert "Отправьте /customer и номер телефона" in text_of(await owner.send("/customer"))
    assert text_of(await owner.send("/customer Zoe")) == (
        "По запросу «Zoe» никого не нашли. Проверьте номер или попробуйте часть имени.")


async def test_adding_points_is_recorded_audited_and_told(app, member, owner, outbox):
    customer = await the_customer(app)
    await owner.press(f"cu.add:{customer.id}")
    await owner.send("250")
    summary = await owner.send("  Sorry   for the long wait ")
    assert text_of(summary) == (f"Начислить 250 баллов клиенту Ivan Petrov (карта "
                                f"{format_card_number(customer.card_number)})?\n"
                                "Причина: Sorry for the long wait\nБаланс: 100 → 350")
    done = await owner.press(payloads_of(summary)[0])
    assert text_of(done).startswith("✅ Готово: +250 баллов. Клиенту отправлено уведомление.")
    assert "• 2 марта 2026 г. +250 вручную — Sorry for the long wait" in text_of(done)
    assert await balance(app, customer.id) == 350
    [operation] = await rows(app, PointOperation, PointOperation.kind == "adjust")
    [admin] = await rows(app, Identity, Identity.external_id == OWNER)
    assert (operation.amount, operation.reason, operation.note, operation.actor_identity_id) == (
        250, "manual", "Sorry for the long wait", admin.id)
    [entry] = await rows(app, AuditEntry)
    assert (entry.action, entry.actor_identity_id, entry.customer_id) == (
        "points", admin.id, customer.id)
    assert entry.details["points"] == 250 and entry.details["operation_id"] == operation.id
    assert outbox.to("42") == ["Вам начислено 250 баллов. Баланс: 350 баллов."]


async def test_taking_points_spends_the_earliest_lots_and_is_told(app, member, owner, outbox):
    customer = await the_customer(app)
    await owner.press(await change(owner, customer.id, "add", "50", "a gift"))
    await owner.press(await change(owner, customer.id, "take", "120", "returned goods"))
    assert await balance(app, customer.id) == 30
    async with app.core.unit_of_work() as uow:
        lots = await uow.lots.live_lots(customer.id, app.core.services.clock.now())
    assert [lot.remaining for lot in lots] == [30]  # the welcome lot burns first: taken first
    take = (await rows(app, PointOperation, PointOperation.amount < 0))[0]
    assert (take.kind, take.reason, take.note, take.amount) == (
        "adjust", "manual", "returned goods", -120)
    assert outbox.to("42")[-1] == "С вашего баланса списано 120 баллов. Баланс: 30 баллов."
    assert [e.details["points"] for e in await rows(app, AuditEntry)] == [50, -120]


@pytest.mark.parametrize("typed, answer", [
    ("abc", "Пришлите целое число баллов от 1 до 100 000."),
    ("0", "Пришлите целое число баллов от 1 до 100 000."),
    ("-5", "Пришлите целое число баллов от 1 до 100 000."),
    ("1.5", "Пришлите целое число баллов от 1 до 100 000."),
    ("100 001", "Пришлите целое число баллов от 1 до 100 000."),
])
async def test_bad_amounts_are_refused_politely(app, member, owner, typed, answer):
    customer = await the_customer(app)
    await owner.press(f"cu.add:{customer.id}")
    replies = await owner.send(typed)
    assert text_of(replies) == answer
    assert payloads_of(replies)[0].startswith("cu.no:")  # still asking; it can be cancelled
    assert "Причина" in text_of(await owner.send("100 000"))  # a grouped number is fine


async def test_taking_more_than_the_balance_is_refused(app, member, owner, outbox):
    customer = await the_customer(app)
    await owner.press(f"cu.take:{customer.id}")
    assert text_of(await owner.send("101")) == (
        "Ivan Petrov: доступно только 100 баллов, пришлите число не больше.")
    await owner.send("100")
    assert "Причина" not in text_of(await owner.send("ab"))  # too short a reason
    summary = await owner.send("closing the account")
    await owner.press(await change(owner, customer.id, "add", "5", "meanwhile"))  # a new flow
    # the old summary's «Confirm» is stale now: the state holds the newer draft, then none
    assert "уже неактуально" in text_of(await owner.press(payloads_of(summary)[0]))
    assert await balance(app, customer.id) == 105


async def test_the_balance_shrinking_before_confirm_takes_nothing(app, member, owner, outbox):
    customer = await the_customer(app)
    confirm = await change(owner, customer.id, "take", "80", "a mistaken bonus")
    async with app.core.unit_of_work() as uow:
        await Ledger(uow, app.core.services.clock).spend(customer.id, 50, "purchase")
        await uow.commit()
    assert text_of(await owner.press(confirm)) == (
        "Баланс изменился: сейчас доступно только 50 баллов. Ничего не списано.")
    assert await balance(app, customer.id) == 50
    assert await rows(app, AuditEntry) == [] and outbox.sent == []


async def test_a_double_tap_on_confirm_records_once(app, member, owner, outbox):
    customer = await the_customer(app)
    confirm = await change(owner, customer.id, "add", "10", "double tap")
    await owner.press(confirm)
    assert text_of(await owner.press(confirm)) == "Это изменение уже записано."
    assert await balance(app, customer.id) == 110
    assert len(await rows(app, AuditEntry)) == 1 and len(outbox.to("42")) == 1


async def test_stale_and_foreign_buttons_change_nothing(app, member, owner, outbox):
    customer = await the_customer(app)
    assert "уже неактуально" in text_of(await owner.press("cu.ok:1:deadbeef"))
    confirm = await change(owner, customer.id, "add", "10", "for nothing")
    assert "уже неактуально" in text_of(await owner.press("cu.ok:1:0badf00d"))  # another draft
    assert text_of(await owner.press("cu.no:0badf00d")) == "Отменено, ничего не изменилось."
    await owner.press(confirm)  # the open draft survived both
    assert await balance(app, customer.id) == 110
    cancelled = await change(owner, customer.id, "add", "10", "cancelled")
    draft = cancelled.rpartition(":")[2]
    assert "уже неактуально" in text_of(await owner.press(f"cu.ok:999:{draft}"))  # another customer
    await owner.press(f"cu.no:{draft}")
    assert "уже неактуально" in text_of(await owner.press(cancelled))
    assert await balance(app, customer.id) == 110 and len(outbox.to("42")) == 1


async def test_a_deleted_customer_is_no_longer_valid(app, member, owner, outbox):
    customer = await the_customer(app)
    confirm = await change(owner, customer.id, "add", "10", "too late")
    async with app.core.unit_of_work() as uow:
        await uow.customers.erase(customer.id, None, app.core.services.clock.now())
        await uow.commit()
    gone = "Этого клиента больше нет в программе, ничего не изменилось."
    assert text_of(await owner.press(confirm)) == gone
    assert text_of(await owner.press(f"cu.add:{customer.id}")) == gone
    assert await rows(app, PointOperation) == [] and await rows(app, AuditEntry) == []


async def test_fixing_the_birthday(app, member, owner):
    customer = await the_customer(app)
    asked = await owner.press(f"cu.bday:{customer.id}")
    assert "Сейчас: 14.03.1990" in text_of(asked)
    for wrong in ("31.02", "14.03.2030", "tomorrow"):
        assert text_of(await owner.send(wrong)).startswith("Не получилось прочитать дату.")
    question = await owner.send("01.05")
    assert text_of(question) == "Записать день рождения клиента Ivan Petrov: 01.05?"
    saved = await owner.press(payloads_of(question)[0])
    assert "✅ День рождения сохранён." in text_of(saved)
    assert "День рождения: 01.05" in text_of(saved)
    customer = await the_customer(app)
    assert (customer.birth_day, customer.birth_month, customer.birth_year) == (1, 5, None)
    [entry] = await rows(app, AuditEntry)
    assert (entry.action, entry.customer_id, entry.details) == (
        "birthday", customer.id, {"before": "14.03.1990", "after": "01.05"})
    assert "уже неактуально" in text_of(await owner.press(payloads_of(question)[0]))
    assert len(await rows(app, AuditEntry)) == 1


async def test_customers_are_refused_and_change_nothing(app, member, outbox):
    customer = await the_customer(app)
    assert text_of(await member.send("/customer Ivan")) == REFUSAL
    for payload in (f"cu.add:{customer.id}", f"cu.show:{customer.id}", "cu.ok:1:deadbeef",
                    f"cu.bday:{customer.id}"):
        assert text_of(await member.press(payload)) == REFUSAL
    assert "Доступно: 100 баллов" in text_of(await member.send("/balance"))
    assert await rows(app, AuditEntry) == [] and outbox.sent == []
