"""/broadcast: the owner writes a message (text, picture, link button), picks a segment, sees
the audience, gets a test, confirms; the messages go through the outbox in batches with a
progress line; a stop cancels what is still waiting; an interrupted enqueue resumes without
sending anyone the message twice; a report counts purchases afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.app import build
from bot.config import Settings
from bot.core.events import Event, EventKind
from bot.core.replies import Button, Picture, Reply, Template, Text
from bot.marketing import broadcasts
from bot.storage.models import (
    Broadcast,
    BroadcastRecipient,
    Customer,
    Identity,
    OutboxMessage,
    Purchase,
)
from tests.chat import OWNER, WEB_LIKE, ChatUser, owner_settings, payloads_of, text_of

JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 50


@pytest.fixture
def settings(any_db_url: str) -> Settings:
    """Every test on SQLite and on a real, migrated PostgreSQL database."""
    return owner_settings(any_db_url)


@dataclass
class Phones:
    """Stands in for Telegram: what each chat received, reply by reply."""

    name: str = "telegram"
    got: dict[str, list[list[Reply]]] = field(default_factory=dict)
    hints: dict[str, list[Template]] = field(default_factory=dict)  # ignored, as Telegram does

    async def deliver(self, recipient: str, replies: list[Reply], message_id: int | None = None) -> None:
        self.got.setdefault(recipient, []).append([r for r in replies if not isinstance(r, Template)])
        self.hints.setdefault(recipient, []).extend(r for r in replies if isinstance(r, Template))

    def texts(self, recipient: str) -> list[str]:
        return [text_of(replies) for replies in self.got.get(recipient, [])]


@pytest.fixture
def phones(app) -> Phones:  # type: ignore[no-untyped-def]
    box = Phones()
    app.core.notifier.channels["telegram"] = box
    return box


CUSTOMERS = ("42", "43", "44", "45", "46")


@pytest.fixture
async def members(chat) -> list[ChatUser]:  # type: ignore[no-untyped-def]
    people = []
    for n, external_id in enumerate(CUSTOMERS):
        person = chat(external_id)
        await person.sign_up(phone=f"+7900123450{n}")
        people.append(person)
    return people


def the(payloads: list[str], prefix: str) -> str:
    [payload] = [p for p in payloads if p.startswith(prefix)]
    return payload


async def compose(owner: ChatUser, text: str = "Скидка 20% на всё до воскресенья!",
                  button: str | None = "Наше меню https://example.com/menu",
                  segment: str = "all") -> list[Reply]:
    """/broadcast → text → button (or Skip) → the segment ("All members") → the audience
    screen."""
    await owner.send("/broadcast")
    asked = await owner.send(text)
    shown = await owner.send(button) if button else await owner.press(
        the(payloads_of(asked), "bc.groups:"))
    if segment == "all":
        return await owner.press(everyone(shown))
    group = segment.partition(":")[0]
    [opened] = [p for p in payloads_of(shown)
                if p.startswith("bc.grp:") and p.endswith(":" + group)]
    [chosen] = [p for p in payloads_of(await owner.press(opened)) if p.endswith(":" + segment)]
    return await owner.press(chosen)


def everyone(groups: list[Reply]) -> str:
    """The "All members" segment's button."""
    [payload] = [p for p in payloads_of(groups) if p.startswith("bc.seg:") and p.endswith(":all")]
    return payload


async def confirm(owner: ChatUser, audience: list[Reply]) -> list[Reply]:
    tested = await owner.press(the(payloads_of(audience), "bc.test:"))
    return await owner.press(the(payloads_of(tested), "bc.go:"))


async def count(app, what, *where) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(
            select(func.count()).select_from(what).where(*where))).scalar_one()


async def the_broadcast(app) -> Broadcast:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Broadcast))).scalar_one()


def customer_copies(phones: Phones) -> dict[str, int]:
    return {who: len(got) for who, got in phones.got.items() if who != OWNER}


async def test_compose_choose_test_confirm_progress_and_report(app, chat, clock, phones, members):
    owner = chat(OWNER)
    asked = await owner.send("/broadcast")
    assert "Пришлите текст сообщения (до 1 000 символов)" in text_of(asked)
    assert "пришлите фото" in text_of(asked)
    assert "Пропустить" in text_of(await owner.send("Скидка 20% на всё до воскресенья!"))
    assert "ссылка, начинающаяся с http://" in text_of(await owner.send("Меню ftp://example.com"))

    groups = await owner.send("Наше меню https://example.com/menu")
    assert "Кнопка добавлена" in text_of(groups) and "Кому отправить?" in text_of(groups)
    payloads = payloads_of(groups)
    assert any(p.endswith(":all") for p in payloads)  # a group of one segment: the segment
    recency = await owner.press(next(p for p in payloads if p.endswith(":recency")))
    assert "выберите сегмент" in text_of(recency)
    assert all(p.startswith(("bc.seg:", "bc.groups:", "bc.cancel:")) for p in payloads_of(recency))
    back = await owner.press(the(payloads_of(recency), "bc.groups:"))

    async with app.core.unit_of_work() as uow:  # one member takes no offers
        await uow.session.execute(update(Customer).where(Customer.id == 2)
                                  .values(notify_promotions=False))
        await uow.commit()
    audience = await owner.press(everyone(back))
    assert "Получат 4 клиента" in text_of(audience) and "около 1 мин" in text_of(audience)

    tested = await owner.press(the(payloads_of(audience), "bc.test:"))
    [preview, ask] = tested
    assert isinstance(preview, Text) and preview.text == "Скидка 20% на всё до воскресенья!"
    [[link], [try_it]] = preview.buttons
    assert (link.label, link.url) == ("Наше меню", "https://example.com/menu")
    assert (try_it.label, try_it.payload) == ("🔕 Отписаться", "bc.unsub:1")  # changes nothing
    assert customer_copies(phones) == {}  # the test went to the owner only
    assert ask.buttons[0][0].label == "✅ Отправить 4 клиентам"

    started = await owner.press(the(payloads_of(tested), "bc.go:"))
    assert "Рассылка №1 отправляется 4 клиентам" in text_of(started)
    assert phones.texts(OWNER)[-1] == "Рассылка №1: отправлено 0, не доставлено 0, осталось 4."

    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert customer_copies(phones) == {"42": 1, "44": 1, "45": 1, "46": 1}  # not 43: no offers
    [[sent]] = phones.got["42"]
    assert isinstance(sent, Text) and sent.text == preview.text
    assert sent.buttons == ((link,), (Button("🔕 Отписаться", "unsub:1"),))
    assert phones.hints["42"] == [Template("broadcast", (("text", sent.text),))]  # for WhatsApp
    async with app.core.unit_of_work() as uow:
        categories = set((await uow.session.execute(select(OutboxMessage.category).join(
            BroadcastRecipient, BroadcastRecipient.outbox_message_id == OutboxMessage.id))).scalars())
    assert categories == {"marketing"}

    # the next run finishes it: the progress line (same key) becomes the result
    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    [final] = phones.got[OWNER][-1]
    assert isinstance(final, Text) and final.key == "broadcast:1"
    assert final.text == ("Рассылка №1 завершена: доставлено 4, заблокировали бота или не "
                          "доставлено 0.")
    assert (await the_broadcast(app)).status == "done"

    # a purchase three days later is the broadcast's; one three weeks later is not
    async with app.core.unit_of_work() as uow:
        outlet = await uow.outlets.default()
        for n, (days, amount) in enumerate([(3, 1500_00), (21, 900_00)]):
            uow.session.add(Purchase(
                outlet_id=outlet.id, receipt_id=f"r{n}", customer_id=1, amount=amount,
                points_spent=0, points_earned=0, balance_after=0, request_hash="x",
                source="pos", occurred_at=clock.now() + timedelta(days=days),
                created_at=clock.now()))
        await uow.commit()
    clock.set(clock.now() + timedelta(days=30))
    report = text_of(await owner.press(the(payloads_of([final]), "bc.report:")))
    assert report.startswith("Рассылка №1, 2 марта 2026 г., завершена:")
    assert "Доставлено 4, заблокировали бота или не доставлено 0" in report
    assert "За 14 дней после отправки купил 1 получатель: покупок 1, выручка 1 500,00" in report
    assert report == text_of(await owner.send("/broadcast report"))
    assert "Покупки считаются до" not in report


async def test_a_picture_from_telegram_and_none_on_the_web(app, chat, phones, members):
    owner = chat(OWNER)
    await owner.send("/broadcast")
    taken = await owner.push(Event(owner.ref, EventKind.PHOTO, text="", image=JPEG))
    assert "Картинка есть. Теперь пришлите текст" in text_of(taken)
    asked = await owner.send("Новый десерт уже в меню")
    audience = await owner.press(everyone(await owner.press(the(payloads_of(asked), "bc.groups:"))))
    tested = await owner.press(the(payloads_of(audience), "bc.test:"))
    assert isinstance(tested[0], Picture)
    assert (tested[0].image, tested[0].caption) == (JPEG, "Новый десерт уже в меню")
    assert [[b.label for b in row] for row in tested[0].buttons] == [["🔕 Отписаться"]]
    await owner.press(the(payloads_of(tested), "bc.go:"))
    await broadcasts.advance(app.core)
    async with app.core.unit_of_work() as uow:  # the picture is kept once, not per recipient
        payloads = (await uow.session.execute(select(OutboxMessage.payload).where(
            OutboxMessage.category == "marketing"))).scalars().all()
    assert payloads and all(p[0]["image"] == "" and p[0]["stored"] == "broadcast:1" for p in payloads)
    await app.outbox.send_due()
    [[picture]] = phones.got["42"]
    assert isinstance(picture, Picture) and picture.image == JPEG
    assert picture.caption == "Новый десерт уже в меню"
    assert picture.buttons == ((Button("🔕 Отписаться", "unsub:1"),),)

    # a photo with its caption at once; and a customer's photo is "unsupported" as before
    await owner.send("/broadcast")
    asked = await owner.push(Event(owner.ref, EventKind.PHOTO, text="Подпись", image=JPEG))
    assert "Картинка есть." in text_of(asked) and "Добавить кнопку-ссылку?" in text_of(asked)
    assert text_of(await members[0].push(Event(members[0].ref, EventKind.PHOTO, image=JPEG))) == \
        text_of(await members[0].sticker())

    web_owner = chat("owner-on-the-web", channel=WEB_LIKE)
    app.settings.admins.append("web:owner-on-the-web")
    assert "Картинку можно приложить в Telegram" in text_of(await web_owner.send("/broadcast"))


async def test_stop_midway_cancels_what_is_still_waiting(app, chat, clock, phones, members,
                                                         monkeypatch):
    monkeypatch.setattr(broadcasts, "SLOT_SECONDS", 0.1)  # 3 messages due per 0.1 s at 30/s
    app.settings.outbox.reply_share_percent = 0  # (the whole limit: nobody replies here)
    owner = chat(OWNER)
    await confirm(owner, await compose(owner))
    await broadcasts.advance(app.core)
    await app.outbox.send_due()  # the clock stands still: only the first 3 are due
    assert sum(customer_copies(phones).values()) == 3

    monkeypatch.setattr(broadcasts, "PROGRESS_EVERY", timedelta(0))
    await broadcasts.advance(app.core)  # the progress line follows
    await app.outbox.send_due()
    [progress] = phones.got[OWNER][-1]
    assert (progress.text, progress.key) == (
        "Рассылка №1: отправлено 3, не доставлено 0, осталось 2.", "broadcast:1")
    stopped = await owner.press(the(payloads_of([progress]), "bc.stop:"))
    assert text_of(stopped) == "⏹ Рассылка №1 остановлена: не отправлено 2 сообщения (уже ушло: 3)."
    assert stopped[0].key == "broadcast:1"  # it replaces the progress line
    assert await count(app, OutboxMessage, OutboxMessage.status == "cancelled") == 2

    clock.set(clock.now() + timedelta(minutes=5))
    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert sum(customer_copies(phones).values()) == 3  # the rest never went
    assert (await the_broadcast(app)).status == "cancelled"
    again = await owner.press(the(payloads_of([progress]), "bc.stop:"))
    assert "Эта рассылка уже не отправляется" in text_of(again)
    assert "не отправлено 2" in text_of(again)  # with its report


async def test_an_interrupted_enqueue_resumes_and_nobody_gets_it_twice(
        app, chat, clock, settings, phones, members, monkeypatch):
    monkeypatch.setattr(broadcasts, "SEND_BATCH", 2)
    owner = chat(OWNER)
    await confirm(owner, await compose(owner))
    assert await count(app, BroadcastRecipient) == 5  # the audience, fixed at the confirmation

    real_write, batches = broadcasts._write, []

    async def crash_after_one_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
        if batches:
            raise ConnectionError("the process died here")
        batches.append(1)
        return await real_write(*args, **kwargs)

    monkeypatch.setattr(broadcasts, "_write", crash_after_one_batch)
    await broadcasts.advance(app.core)  # logs the failure, keeps the first batch
    assert await count(app, BroadcastRecipient, BroadcastRecipient.written_at.is_not(None)) == 2
    assert await count(app, OutboxMessage, OutboxMessage.category == "marketing") == 2
    assert (await the_broadcast(app)).enqueued_at is None
    monkeypatch.setattr(broadcasts, "_write", real_write)

    restarted = await build(settings, clock)  # a new process on the same database
    try:
        restarted.core.notifier.channels["telegram"] = phones
        await broadcasts.advance(restarted.core)
        await broadcasts.advance(restarted.core)  # harmless: nobody is left
        await restarted.outbox.send_due()
        await app.outbox.send_due()
    finally:
        await restarted.close()
    assert customer_copies(phones) == dict.fromkeys(CUSTOMERS, 1)
    assert await count(app, BroadcastRecipient, BroadcastRecipient.written_at.is_not(None)) == 5
    assert await count(app, OutboxMessage, OutboxMessage.category == "marketing") == 5


async def buy_once(app, *external_ids: str) -> None:  # type: ignore[no-untyped-def]
    """A first purchase each (Silver from the first one), as far as segments are concerned."""
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(update(Customer).where(Customer.id.in_(
            select(Identity.customer_id).where(Identity.external_id.in_(external_ids))))
            .values(purchase_count=1))
        await uow.commit()


async def test_the_audience_is_fixed_at_the_confirmation(app, chat, phones, members, monkeypatch):
    """Who joins the segment after the confirmation does not get it; who is erased or turns
    off offers before their batch is written is skipped."""
    monkeypatch.setattr(broadcasts, "PROGRESS_EVERY", timedelta(0))
    await buy_once(app, "42", "43", "44")
    owner = chat(OWNER)
    started = await confirm(owner, await compose(owner, segment="tier:silver"))
    assert "отправляется 3 клиентам" in text_of(started)

    await buy_once(app, "45")  # Silver now, after the confirmation
    await members[1].press("settings:delete")
    assert "Ваши данные удалены" in text_of(await members[1].press("settings:delete:confirm"))
    await members[2].press("settings:topic:promotions")  # no more offers and news

    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert customer_copies(phones) == {"42": 1}
    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert phones.texts(OWNER)[-1] == (
        "Рассылка №1 завершена: доставлено 1, заблокировали бота или не доставлено 1.")
    assert (await the_broadcast(app)).audience == 3


async def test_a_double_tap_on_confirm_sends_once(app, chat, phones, members):
    owner = chat(OWNER)
    audience = await compose(owner, button=None)
    tested = await owner.press(the(payloads_of(audience), "bc.test:"))
    go = the(payloads_of(tested), "bc.go:")
    await owner.press(go)
    second = await owner.press(go)
    assert "Рассылка №1 уже подтверждена" in text_of(second)
    await broadcasts.advance(app.core)
    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert await count(app, Broadcast) == 1
    assert customer_copies(phones) == dict.fromkeys(CUSTOMERS, 1)


async def test_cancel_under_the_test_after_confirming_points_to_stop(app, chat, phones, members):
    owner = chat(OWNER)
    audience = await compose(owner, button=None)
    tested = await owner.press(the(payloads_of(audience), "bc.test:"))
    await owner.press(the(payloads_of(tested), "bc.go:"))
    late = await owner.press(the(payloads_of(tested), "bc.cancel:"))
    assert "Рассылка №1 уже отправляется" in text_of(late)  # not "nothing was sent"
    assert payloads_of(late) == ["bc.stop:1"]
    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert customer_copies(phones) == dict.fromkeys(CUSTOMERS, 1)


async def test_customers_are_refused_and_nothing_happens(app, chat, phones, members):
    customer = members[0]
    assert "только администратор" in text_of(await customer.send("/broadcast"))
    for payload in ("bc.go:1:all", "bc.stop:1", "bc.seg:1:all", "bc.report:1"):
        assert "только администратор" in text_of(await customer.press(payload))
    assert await count(app, Broadcast) == 0 and customer_copies(phones) == {}


async def test_stale_buttons(app, chat, clock, phones, members):
    owner = chat(OWNER)
    assert "кнопка рассылки устарела" in text_of(await owner.press("bc.go:99:all"))
    assert "кнопка рассылки устарела" in text_of(await owner.press("bc.seg:x:all"))
    audience = await compose(owner)
    segment = everyone(await owner.press(the(payloads_of(audience), "bc.groups:")))
    # confirming without the test, or for another segment than the one tested, is refused
    assert "устарела" in text_of(await owner.press(segment.replace("bc.seg", "bc.go")))
    await confirm(owner, await owner.press(segment))
    assert "уже подтверждена" in text_of(await owner.press(segment.replace("bc.seg", "bc.go")))
    assert "устарела" in text_of(await owner.press(segment))  # no longer a draft

    other_admin = chat("2")
    app.settings.admins.append("telegram:2")
    assert "устарела" in text_of(await other_admin.press(segment))  # not their draft
    assert "Рассылок ещё не было" not in text_of(await other_admin.send("/broadcast report"))

    cancelled = await compose(owner)
    assert "ничего не отправлено" in text_of(await owner.press(the(payloads_of(cancelled),
                                                                   "bc.cancel:")))
    assert "устарела" in text_of(await owner.press(the(payloads_of(cancelled), "bc.test:")))


async def test_quiet_hours_hold_the_messages_until_the_morning(app, chat, clock, phones, members):
    clock.set(datetime(2026, 3, 2, 19, 30, tzinfo=UTC))  # 22:30 in Moscow
    owner = chat(OWNER)
    started = await confirm(owner, await compose(owner))
    assert "Сейчас тихие часы: сообщения подождут до 10:00" in text_of(started)
    await broadcasts.advance(app.core)
    await app.outbox.send_due()
    assert customer_copies(phones) == {}
    async with app.core.unit_of_work() as uow:
        due = set((await uow.session.execute(select(OutboxMessage.not_before).where(
            OutboxMessage.category == "marketing"))).scalars())
    assert due == {datetime(2026, 3, 3, 7, 0, tzinfo=UTC)}


async def test_text_limits_and_a_cancel(app, chat, phones, members):
    owner = chat(OWNER)
    await owner.send("/broadcast")
    assert "Здесь 1 001 символ, а в рассылке — не больше 1 000" in text_of(await owner.send("я" * 1001))
    asked = await owner.send("я" * 1000)
    assert "Добавить кнопку-ссылку?" in text_of(asked)
    assert "ничего не отправлено" in text_of(await owner.press(the(payloads_of(asked), "bc.cancel:")))
    assert (await the_broadcast(app)).status == "cancelled"
    assert "Рассылок ещё не было" in text_of(await owner.send("/broadcast report"))


# --- one tap to unsubscribe -------------------------------------------------------------------

async def sent_to_all(app, owner: ChatUser, text: str = "Скидка 20% на всё до воскресенья!") -> None:  # type: ignore[no-untyped-def]
    await confirm(owner, await compose(owner, text))
    await broadcasts.advance(app.core)
    await app.outbox.send_due()


async def offers_taken(app) -> dict[int, bool]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return dict((await uow.session.execute(
            select(Customer.id, Customer.notify_promotions).order_by(Customer.id))).all())


DONE = {
    "ru": "🔕 Готово: «Акции и новости» от «Coffee Point» больше не придут. Уведомления о покупках "
          "по-прежнему будут приходить.\nЧтобы снова их получать, включите «Акции и новости» в "
          "настройках.",
    "en": "🔕 Done: no more «Offers and news» from Coffee Point. Purchase confirmations still "
          "arrive.\nTo get them again, switch on «Offers and news» in Settings.",
}


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_one_tap_unsubscribes_and_the_report_counts_it(app, chat, phones, members, language):
    anna = chat("47", language=language)
    await anna.sign_up(phone="+79001234599")
    owner = chat(OWNER, language=language)
    await sent_to_all(app, owner)
    [[copy]] = phones.got["47"]
    [_link], [unsubscribe] = copy.buttons
    assert unsubscribe == Button({"ru": "🔕 Отписаться", "en": "🔕 Unsubscribe"}[language], "unsub:1")
    assert phones.got["42"][0][0].buttons[1] == (Button("🔕 Отписаться", "unsub:1"),)  # theirs: ru

    done = await anna.press(unsubscribe.payload)
    assert text_of(done) == DONE[language] and payloads_of(done) == ["settings"]
    assert (await offers_taken(app))[6] is False
    labels = [b.label for reply in await anna.press("settings") for row in reply.buttons for b in row]
    assert {"ru": "☐ Акции и новости", "en": "☐ Offers and news"}[language] in labels

    report = text_of(await owner.send("/broadcast report"))
    assert {"ru": "Отписались кнопкой под рассылкой: 1.",
            "en": "Unsubscribed with its button: 1."}[language] in report
    assert {"ru": "Покупки считаются до 16 марта 2026 г.",
            "en": "Purchases are counted until March 16, 2026"}[language] in report

    await sent_to_all(app, owner, "Второе предложение")  # nothing more for her
    assert len(phones.got["47"]) == 1 and len(phones.got["42"]) == 2
    await anna.press("settings:topic:promotions")  # switched on again in Settings
    await sent_to_all(app, owner, "Третье предложение")
    assert len(phones.got["47"]) == 2
    async with app.core.unit_of_work() as uow:
        [first, *_] = (await uow.session.execute(select(Broadcast).order_by(Broadcast.id))).scalars()
        assert (await broadcasts.report(uow, first, app.settings)).unsubscribed == 1


async def test_a_replayed_or_made_up_tap_counts_nothing_more(app, chat, phones, members):
    async with app.core.unit_of_work() as uow:  # 43 takes no offers: not in the audience
        await uow.session.execute(update(Customer).where(Customer.id == 2)
                                  .values(notify_promotions=False))
        await uow.commit()
    await sent_to_all(app, chat(OWNER))
    ivan, pavel, olga = members[0], members[1], members[2]
    assert text_of(await ivan.press("unsub:1")).startswith("🔕 Готово")
    again = text_of(await ivan.press("unsub:1"))
    assert again.startswith("Вы уже отписаны от рассылки «Акции и новости».")
    for payload in ("unsub:1", "unsub:999", "unsub:abc", "unsub"):  # he never got #1
        assert "Вы уже отписаны" in text_of(await pavel.press(payload))
    await olga.press("unsub:999")  # a recipient of #1 naming a broadcast that never was
    async with app.core.unit_of_work() as uow:
        assert (await broadcasts.report(uow, await the_broadcast(app), app.settings)).unsubscribed == 1
    # only the tapper's own choice changes
    assert await offers_taken(app) == {1: False, 2: False, 3: False, 4: True, 5: True}


async def test_unsubscribe_in_the_owners_test_copy_changes_nothing(app, chat, phones, members):
    owner = chat(OWNER)
    await owner.sign_up(phone="+79001239999")  # the owner is a customer too
    tested = await owner.press(the(payloads_of(await compose(owner)), "bc.test:"))
    told = text_of(await owner.press(the(payloads_of(tested), "bc.unsub:")))
    assert "перестанет получать акции и новости" in told and "ничего не меняет" in told
    assert all(await offers_taken(app))
    assert "только администратор" in text_of(
        await members[0].press(the(payloads_of(tested), "bc.unsub:")))


def test_the_buttons_add_no_call_to_a_copy_so_the_time_estimate_holds():
    """A copy on Telegram is one call, a picture with its link and «Unsubscribe» included."""
    settings = owner_settings("sqlite+aiosqlite://")
    rate = settings.outbox.telegram_per_second * settings.outbox.outbox_share
    plain = Broadcast(id=1, text="Скидка")
    full = Broadcast(id=2, text="Скидка", image=JPEG, button_label="Меню",
                     button_url="https://example.com/menu")
    assert broadcasts.per_second(plain, settings) == broadcasts.per_second(full, settings) == rate
    assert broadcasts.sending_minutes(int(rate * 60) + 1, full, settings) == 2
