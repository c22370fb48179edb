"""What a member sees from the main menu: card, balance, status, rules, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.replies import Picture
from bot.loyalty.cards import TOKEN_PREFIX, InvalidToken, format_card_number
from bot.loyalty.ledger import Ledger
from bot.storage.models import Customer, Identity, PointLot
from tests.chat import payloads_of, text_of
from tests.conftest import START


async def the_customer(app) -> Customer:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Customer))).scalar_one()


async def test_card_is_a_qr_picture_with_number_tier_and_balance(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("card")
    [card] = replies
    assert isinstance(card, Picture)
    assert card.image.startswith(b"\x89PNG")
    customer = await the_customer(app)
    assert format_card_number(customer.card_number) in card.caption
    assert "Ivan Petrov" in card.caption
    assert "Участник" in card.caption and "100 баллов" in card.caption


async def test_card_qr_token_is_signed_short_lived_and_stable_within_a_slot(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    first = (await ivan.press("card"))[0]
    clock.advance(seconds=20)
    again = (await ivan.press("card"))[0]
    assert first.cache_key == again.cache_key and first.image is again.image  # rendered once
    tokens = app.core.services.card_tokens
    customer = await the_customer(app)
    assert tokens.verify(first.cache_key, clock.now()).customer_id == customer.id


async def test_card_qr_token_never_outlives_its_ttl(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    tokens = app.core.services.card_tokens
    for offset in (0, 1, 299, 300, 599):  # anywhere within a 5-minute slot
        clock.set(START + timedelta(seconds=offset))
        issued = clock.now()
        token = tokens.issue(1, issued)
        clock.set(issued + timedelta(minutes=tokens.guaranteed_minutes) - timedelta(seconds=1))
        assert tokens.verify(token, clock.now()).customer_id == 1
        with pytest.raises(InvalidToken):
            tokens.verify(token, issued + tokens.ttl + timedelta(seconds=1))
    with pytest.raises(InvalidToken):
        tokens.verify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], issued)


async def test_another_installations_token_is_refused(app, chat, clock):
    from bot.loyalty.cards import CardTokens

    elsewhere = CardTokens(b"another-shop-secret-key", app.core.services.card_tokens.ttl)
    with pytest.raises(InvalidToken):
        app.core.services.card_tokens.verify(elsewhere.issue(1, clock.now()), clock.now())


async def test_balance_shows_available_next_expiry_and_history(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("balance")
    text = text_of(replies)
    assert "Доступно: 100 баллов" in text
    assert "Ближайшее сгорание: 100 баллов — 31 мая 2026 г." in text
    assert "+100 приветственный бонус" in text


async def test_next_to_burn_sums_every_lot_of_that_day(app, chat, clock):
    """Lots that burn at different hours of one shop day are one line: all of them."""
    ivan = chat("42")
    await ivan.sign_up()  # the welcome bonus burns on 31 May
    async with app.core.unit_of_work() as uow:
        customer = (await uow.session.execute(select(Customer))).scalar_one()
        ledger = Ledger(uow, clock)
        # 5 December in Moscow: 00:30, 12:00 and 23:30 local time
        for points, utc in ((70, datetime(2026, 12, 4, 21, 30, tzinfo=UTC)),
                            (150, datetime(2026, 12, 5, 9, 0, tzinfo=UTC)),
                            (30, datetime(2026, 12, 5, 20, 30, tzinfo=UTC))):
            await ledger.earn(customer.id, points, "gift", utc - clock.now())
        await uow.commit()
    clock.set(datetime(2026, 6, 2, 9, 0, tzinfo=UTC))  # the welcome points are gone
    text = text_of(await ivan.press("balance"))
    assert "Ближайшее сгорание: 250 баллов — 5 декабря 2026 г." in text


async def test_status_before_the_first_purchase_says_it_makes_silver(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    text = text_of(await ivan.send("/status"))
    assert "Ваш уровень: Участник" in text
    assert ("Первая покупка переведёт вас на уровень «Серебро» и уже засчитается по его "
            "условиям: 3 % вернётся баллами, а баллами можно оплатить до 3,75 % её суммы.") in text
    anna = chat("43", name="Anna", language="en")
    await anna.sign_up(phone="+79007654321")
    text = text_of(await anna.press("status"))
    assert "Your tier: Member" in text
    assert ("Your first purchase makes you «Silver», and it already counts at its rates: 3% "
            "back in points, and points can pay up to 3.75% of it.") in text


async def test_status_counts_purchases_to_the_next_tier(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    async with app.core.unit_of_work() as uow:
        customer = (await uow.session.execute(select(Customer))).scalar_one()
        customer.purchase_count = 3
        await uow.commit()
    text = text_of(await ivan.press("status"))
    assert "Ваш уровень: Серебро" in text
    assert "баллами можно оплатить до 3,75 % покупки" in text
    assert "Ещё 2 покупки до уровня «Золото»" in text


async def test_rules_are_written_from_the_configuration(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    text = text_of(await ivan.press("rules"))
    assert "Вступить можно бесплатно, и сразу — 100 баллов в подарок; они действуют 90 дней." in text
    assert ("До первой покупки ваш уровень — «Участник»; первая покупка переводит вас на "
            "уровень «Серебро»") in text
    assert "Уровень зависит от числа ваших покупок: Серебро — от 1, Золото — от 5, Платина — от 7." in text
    assert "Серебро 3 %, Золото 5 %, Платина 7 %" in text
    assert ("Баллами можно оплатить часть покупки: Серебро — до 3,75 %, Золото — до 11,25 %, "
            "Платина — до 15 %.") in text  # 15 % × the tier's share, nothing to multiply
    assert "365 дней" in text


async def test_the_rules_in_english(app, chat):
    anna = chat("43", name="Anna", language="en")
    await anna.sign_up(phone="+79007654321")
    text = text_of(await anna.press("rules"))
    assert "Joining is free and gives 100 points at once; they last 90 days." in text
    assert ("Until your first purchase your tier is «Member»; the first purchase makes you "
            "«Silver» and already counts at its rates.") in text
    assert "Tiers go by the number of your purchases: Silver from 1, Gold from 5, Platinum from 7." in text
    assert ("1 point = 1 RUB of discount. Points can pay for a part of a purchase: Silver up to "
            "3.75%, Gold up to 11.25%, Platinum up to 15%.") in text


async def test_rules_of_another_program_tiers_by_spend_no_welcome_no_discount(settings, clock):
    from bot.app import build
    from bot.config import Tier
    from tests.chat import TELEGRAM_LIKE, ChatUser

    program = settings.program.model_copy(update={
        "welcome_bonus": 0, "max_discount_percent": 0, "tier_basis": "spend", "tiers": [
            Tier(code="gold", name="Gold", min_purchases=0, min_spend=20000, cashback_percent=5,
                 spend_share_percent=75),
            Tier(code="silver", name="Silver", min_purchases=0, min_spend=5000,
                 cashback_percent=3, spend_share_percent=25)]})
    application = await build(settings.model_copy(update={"program": program}), clock)
    try:
        anna = ChatUser(application.core, TELEGRAM_LIKE, "43", name="Anna", language="en")
        text = text_of(await anna.send("/start"))  # the rules come with the greeting
    finally:
        await application.close()
    assert "• Joining is free.\n" in text and "100 points" not in text
    assert "You start as «Member»; purchases of RUB5,000.00 in total make you «Silver»." in text
    assert ("Tiers go by the total of your purchases: Silver from RUB5,000.00, Gold from "
            "RUB20,000.00.") in text
    assert "1 point = 1 RUB when you take a reward; purchases themselves are paid in money." in text


async def test_language_switch_answers_in_english_from_then_on(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("settings:lang:en")
    assert "Language: English" in text_of(replies)
    assert "Available: 100 points" in text_of(await ivan.press("balance"))
    assert (await the_customer(app)).locale == "en"


async def test_notification_opt_outs_toggle(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("settings:topic:promotions")
    assert "☐ Акции и новости" in [b.label for r in replies for row in r.buttons for b in row]
    customer = await the_customer(app)
    assert not customer.notify_promotions and customer.notify_reminders
    await ivan.press("settings:topic:promotions")
    assert (await the_customer(app)).notify_promotions


async def test_delete_my_data_asks_first_then_erases_everything(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("settings:delete")
    assert "навсегда" in text_of(replies) and "settings:delete:confirm" in payloads_of(replies)
    assert await the_customer(app)  # nothing deleted yet
    replies = await ivan.press("settings:delete:confirm")
    assert "Ваши данные удалены" in text_of(replies)
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(Customer))).first() is None
        assert (await uow.session.execute(select(Identity))).first() is None
        assert (await uow.session.execute(select(PointLot))).first() is None
    replies = await ivan.send("/start")
    assert "consent:yes" in payloads_of(replies)


async def test_unknown_text_and_commands_get_the_menu_with_a_hint(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    for text in ("привет", "/unknown", "x" * 5000):
        replies = await ivan.send(text)
        assert "Не совсем понял" in text_of(replies)
        assert "card" in payloads_of(replies)


async def test_stickers_get_a_polite_answer(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    assert "Я понимаю текст и кнопки" in text_of(await ivan.sticker())


async def test_a_sticker_mid_sign_up_repeats_the_current_question(app, chat):
    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    await ivan.share_contact("+79001234567")
    text = text_of(await ivan.sticker())
    assert "Я понимаю текст и кнопки" in text and "Как к вам обращаться?" in text


async def test_stale_buttons_are_answered_with_the_menu(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("birthday:skip")
    assert "Эта кнопка уже не действует" in text_of(replies)


async def test_someone_scanning_a_card_learns_only_that_it_is_a_loyalty_card(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    token = (await ivan.press("card"))[0].cache_key
    stranger = chat("99")
    text = text_of(await stranger.send(f"/start {TOKEN_PREFIX}{token}"))
    assert "Это карта программы лояльности «Coffee Point»" in text
    assert "Ivan" not in text and "100" not in text


async def test_a_database_failure_says_try_later_and_writes_nothing(app, chat, monkeypatch):
    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    await ivan.share_contact("+79001234567")
    await ivan.press("name:profile")

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk I/O error")

    # the last step writes the birthday and registration, then fails on the welcome bonus
    monkeypatch.setattr("bot.loyalty.ledger.Ledger.earn", broken)
    replies = await ivan.send("14.03.1990")
    assert "Попробуйте, пожалуйста, через минуту" in text_of(replies)
    customer = await the_customer(app)
    assert customer.registered_at is None and customer.birth_day is None
    async with app.core.unit_of_work() as uow:
        assert (await uow.session.execute(select(PointLot))).first() is None
    monkeypatch.undo()
    assert "Добро пожаловать" in text_of(await ivan.send("14.03.1990"))  # and it can be retried


async def test_one_persons_quick_messages_are_handled_in_order(app, chat):
    import asyncio

    ivan = chat("42")
    await ivan.send("/start")
    await ivan.press("consent:yes")
    await ivan.share_contact("+79001234567")
    await asyncio.gather(ivan.send("Иван"), ivan.send("14.03.1990"))
    customer = await the_customer(app)
    assert customer.name == "Иван" and customer.birth_day == 14


async def test_an_admin_who_deletes_their_data_stays_an_admin(app, chat, clock):
    from bot.app import admin_invite_links

    owner = chat("1")
    await owner.sign_up()
    [link] = await admin_invite_links(app)
    await owner.send("/start " + link.split("?start=")[1])
    await owner.press("settings:delete:confirm")
    async with app.core.unit_of_work() as uow:
        assert await uow.staff.has_admin()
        assert (await uow.session.execute(select(Customer))).first() is None
    assert "con.join" in payloads_of(await owner.send("/start"))  # may join again
    assert "consent:yes" in payloads_of(await owner.press("con.join"))


async def test_joining_again_after_deleting_gives_no_second_welcome_bonus(app, chat):
    ivan = chat("42")
    await ivan.sign_up(phone="+79001234567")
    await ivan.press("settings:delete:confirm")
    replies = await ivan.sign_up(phone="+79001234567")
    assert "Добро пожаловать" in text_of(replies) and "+100" not in text_of(replies)
    assert "Приветственный бонус начисляется один раз на номер телефона" in text_of(replies)
    assert "Доступно: 0 баллов" in text_of(await ivan.press("balance"))


async def test_a_redelivered_event_is_handled_once(app, chat):
    ivan = chat("42")
    assert await ivan.send("/start", event_id="1001")
    assert await ivan.send("/start", event_id="1001") == []


async def test_welcome_bonus_burns_after_its_lifetime(app, chat, clock):
    ivan = chat("42")
    await ivan.sign_up()
    clock.advance(days=90)
    assert "Доступно: 0 баллов" in text_of(await ivan.press("balance"))
    async with app.core.unit_of_work() as uow:
        lot = (await uow.session.execute(select(PointLot))).scalar_one()
    assert lot.expires_at - lot.created_at == timedelta(days=90)


async def test_shutdown_lets_the_event_in_flight_finish(app, chat):
    import asyncio

    original = app.core.router.dispatch
    started = asyncio.Event()

    async def slow(event, ctx):  # type: ignore[no-untyped-def]
        started.set()
        await asyncio.sleep(0.2)
        return await original(event, ctx)

    app.core.router.dispatch = slow
    answer = asyncio.create_task(chat("42").send("/start"))
    await started.wait()
    await app.close()
    assert answer.done()
    assert "Здравствуйте" in text_of(answer.result())
