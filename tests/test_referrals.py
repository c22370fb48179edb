"""Invite a friend: a personal link; both get the referral bonus after the friend's first
purchase; nobody refers themselves; the referrer is paid at most a few times a day."""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import select

from bot.handlers.referral import referral_notice
from bot.storage.models import Customer
from tests.chat import TELEGRAM_LIKE, WEB_LIKE, payloads_of, text_of
from tests.test_feedback import IVAN_PHONE, buy, customer_by_phone, record_telegram

MARIA_PHONE = "+79007654321"


def link_payload(replies) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r"\?start=(ref-[a-z0-9]+)", text_of(replies))
    assert match, text_of(replies)
    return match[1]


async def test_the_invite_screen_shows_a_personal_link_and_the_rule(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    assert "friends" in payloads_of(await ivan.send("/menu"))
    replies = await ivan.press("friends")
    text = text_of(replies)
    assert "вы оба получите 200 баллов" in text
    payload = link_payload(replies)
    assert f"https://telegram.test/?start={payload}" in text
    assert link_payload(await ivan.send("/friends")) == payload  # made once, kept
    assert (await customer_by_phone(app)).referral_code == payload.removeprefix("ref-")


def link_buttons(replies) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(b.label, b.url) for reply in replies for row in reply.buttons for b in row if b.url]


async def test_the_link_is_a_button_too(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.press("friends")
    link = f"https://telegram.test/?start={link_payload(replies)}"
    assert link_buttons(replies) == [("🔗 Моя ссылка-приглашение", link)]
    anna = chat("w-43", channel=WEB_LIKE, name="Anna", language="en")
    await anna.sign_up(phone=MARIA_PHONE)
    replies = await anna.send("/friends")
    assert link_buttons(replies) == [
        ("🔗 My invitation link", f"https://web.test/?start={link_payload(replies)}")]


async def test_where_the_messenger_can_forward_it_the_button_offers_that(app, chat):
    from dataclasses import replace

    from bot.channels import telegram, whatsapp

    ivan = chat("42", channel=replace(TELEGRAM_LIKE, share_link=telegram.share_link))
    await ivan.sign_up()
    replies = await ivan.press("friends")
    [(label, url)] = link_buttons(replies)
    code = link_payload(replies)
    assert label == "📤 Отправить другу"
    assert url == ("https://t.me/share/url?url=https%3A%2F%2Ftelegram.test%2F%3Fstart%3D" + code
                   + "&text=" + quote("Вступайте в программу лояльности «Coffee Point»: после "
                                      "вашей первой покупки мы оба получим 200 баллов.", safe=""))
    assert whatsapp.share_link("Join!", "https://wa.me/7900?text=%2Fstart%20ref-x") == (
        "https://wa.me/?text=Join%21%20https%3A%2F%2Fwa.me%2F7900%3Ftext%3D%252Fstart%2520ref-x")
    viber = replace(TELEGRAM_LIKE, name="viber", deep_link=lambda p: f"viber://pa?context={p}")
    maria = chat("v-43", channel=viber, name="Maria")
    await maria.sign_up(phone=MARIA_PHONE)
    replies = await maria.send("/friends")  # its own scheme: a button might not open it
    assert "viber://pa?context=ref-" in text_of(replies) and link_buttons(replies) == []


async def test_the_friend_is_greeted_with_what_the_invitation_gives(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    link = link_payload(await ivan.press("friends"))
    maria = chat("43", name="Maria")
    text = text_of(await maria.send(f"/start {link}"))
    assert ("🤝 Вас пригласил друг. Вступайте: после первой покупки вы получите за это 200 "
            "баллов (и ваш друг тоже).") in text
    assert "согласие на обработку" in text
    text = text_of(await maria.press("lang:en"))  # the same greeting in English
    assert ("🤝 A friend has invited you. Join, and after your first purchase you get 200 points "
            "for it (and so does your friend).") in text
    stranger = chat("44")
    assert "пригласил" not in text_of(await stranger.send("/start ref-nosuchcode"))
    assert "пригласил" not in text_of(await chat("45").send("/start instagram"))


async def test_a_friend_by_the_link_and_the_referrer_both_get_the_bonus_after_the_first_purchase(
        app, chat):
    sent = record_telegram(app)
    ivan, maria = chat("42"), chat("43", name="Maria")
    await ivan.sign_up()
    link = link_payload(await ivan.press("friends"))
    await maria.send(f"/start {link}")
    await maria.sign_up(phone=MARIA_PHONE)
    referrer = await customer_by_phone(app)
    friend = await customer_by_phone(app, MARIA_PHONE)
    assert friend.referred_by == referrer.id and friend.source == link

    first = await buy(app, MARIA_PHONE, "R1")
    assert first.referrer_rewarded == referrer.id
    assert first.balance == 100 + 45 + 200
    assert (await buy(app, MARIA_PHONE, "R2")).referrer_rewarded is None  # the first one only
    assert "Доступно: 300 баллов" in text_of(await ivan.press("balance"))
    assert "Друзей присоединилось: 1; сделали покупку: 1." in text_of(await ivan.press("friends"))

    async with app.core.unit_of_work() as uow:
        await app.core.notifier.enqueue(uow, [referral_notice(first.referrer_rewarded, app.settings)],
                                        app.core.services.clock.now())
        await uow.commit()
    await app.outbox.send_due()
    assert sent.texts_to("42") == [("Ваш друг сделал первую покупку: +200 баллов за приглашение. "
                                    "Спасибо!")]


async def test_ones_own_link_never_refers_oneself(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    link = link_payload(await ivan.press("friends"))
    # the same person from a second account with the same verified phone: the same customer
    second_account = chat("77")
    await second_account.send(f"/start {link}")
    await second_account.sign_up()
    ivan_row = await customer_by_phone(app)
    assert ivan_row.referred_by is None
    assert (await buy(app, IVAN_PHONE, "R1")).referrer_rewarded is None


async def test_a_phone_typed_in_the_web_chat_can_not_refer_itself_in_a_messenger(app, chat):
    on_web = chat("web-1", channel=WEB_LIKE)
    await on_web.sign_up(phone=IVAN_PHONE)  # typed, not verified
    link = link_payload(await on_web.press("friends"))
    in_telegram = chat("42")
    await in_telegram.send(f"/start {link}")
    await in_telegram.sign_up(phone=IVAN_PHONE)  # verified: a new customer, the same phone
    customers = await all_customers(app)
    assert len(customers) == 2 and all(c.referred_by is None for c in customers)


async def test_an_unknown_code_is_only_a_source(app, chat):
    maria = chat("43", name="Maria")
    await maria.send("/start ref-nosuchcode")
    await maria.sign_up(phone=MARIA_PHONE)
    friend = await customer_by_phone(app, MARIA_PHONE)
    assert friend.referred_by is None and friend.source == "ref-nosuchcode"


async def test_coming_back_after_deleting_ones_data_is_not_a_new_friend(app, chat):
    ivan, maria = chat("42"), chat("43", name="Maria")
    await ivan.sign_up()
    link = link_payload(await ivan.press("friends"))
    await maria.sign_up(phone=MARIA_PHONE)
    await maria.press("settings:delete:confirm")
    await maria.send(f"/start {link}")
    await maria.sign_up(phone=MARIA_PHONE)
    assert (await customer_by_phone(app, MARIA_PHONE)).referred_by is None


async def test_the_referrer_is_paid_at_most_the_daily_cap(app, chat, settings, clock):
    settings.program.referral_daily_cap = 2
    ivan = chat("42")
    await ivan.sign_up()
    link = link_payload(await ivan.press("friends"))
    friends = [f"+7900111000{n}" for n in range(4)]
    for n, phone in enumerate(friends):
        friend = chat(f"5{n}", name=f"Friend {n}")
        await friend.send(f"/start {link}")
        await friend.sign_up(phone=phone)
    referrer = (await customer_by_phone(app)).id

    paid = [(await buy(app, phone, f"R{n}")).referrer_rewarded
            for n, phone in enumerate(friends[:3])]
    assert paid == [referrer, referrer, None]  # the third friend's bonus is over the cap
    assert (await buy(app, friends[2], "R2b")).balance == 100 + 45 + 200 + 45  # friend still paid
    clock.advance(days=1, seconds=1)
    assert (await buy(app, friends[3], "R3")).referrer_rewarded == referrer
    assert "Доступно: 700 баллов" in text_of(await ivan.press("balance"))  # 100 + 3 × 200


async def all_customers(app) -> list[Customer]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(Customer))).scalars())


async def refund(app, receipt: str, amount: int | None = None, key: str | None = None) -> None:  # type: ignore[no-untyped-def]
    from bot.loyalty.checkout import Checkout

    async with app.core.unit_of_work() as uow:
        await Checkout(uow, app.core.services.clock, app.settings.program).refund(
            outlet_id=(await uow.outlets.default()).id, receipt_id=receipt, amount=amount,
            refund_key=key)
        await uow.commit()


async def invited(app, chat):  # type: ignore[no-untyped-def]
    ivan, maria = chat("42"), chat("43", name="Maria")
    await ivan.sign_up()
    await maria.send(f"/start {link_payload(await ivan.press('friends'))}")
    await maria.sign_up(phone=MARIA_PHONE)
    return ivan, maria


async def test_refunding_the_friends_first_purchase_in_full_takes_both_bonuses_back(app, chat):
    """Buy, refund, keep the bonus is the most reported abuse: a full refund of the purchase
    that paid the referral bonus takes it back from both; a later purchase pays nothing."""
    ivan, maria = await invited(app, chat)
    await buy(app, MARIA_PHONE, "R1")
    assert "Доступно: 300 баллов" in text_of(await ivan.press("balance"))
    await refund(app, "R1")
    assert "Доступно: 100 баллов" in text_of(await ivan.press("balance"))
    assert "Доступно: 100 баллов" in text_of(await maria.press("balance"))
    second = await buy(app, MARIA_PHONE, "R2")
    assert second.referrer_rewarded is None and second.referral_bonus == 0


async def test_a_partial_refund_leaves_the_referral_bonus(app, chat):
    ivan, _maria = await invited(app, chat)
    await buy(app, MARIA_PHONE, "R1")
    await refund(app, "R1", amount=500_00, key="part")
    assert "Доступно: 300 баллов" in text_of(await ivan.press("balance"))
