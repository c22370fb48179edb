"""Staff commands for admins: /invite and /staff with «Remove». The role is checked on every
call; anyone else gets a polite refusal and nothing happens."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.storage.models import Identity, Purchase, Staff, StaffInvite
from tests.chat import WEB_LIKE, ChatUser, payloads_of, text_of
from tests.test_cashier_chat import Outbox, button, identity_id, scan

OWNER = "1"  # telegram:1 is an admin by the config file


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database={"url": db_url}, card={"secret": "test-signing-key-0123456789"},
                    shop={"name": "Coffee Point"}, admins=[f"telegram:{OWNER}"])


@pytest.fixture
def outbox(app) -> Outbox:  # type: ignore[no-untyped-def]
    box = Outbox()
    app.core.notifier.channels["telegram"] = box
    return box


def link_payload(replies) -> str:  # type: ignore[no-untyped-def]
    [line] = [line for line in text_of(replies).splitlines() if "?start=" in line]
    return line.split("?start=")[1]


async def invited(owner: ChatUser, person: ChatUser, command: str = "/invite cashier") -> str:
    replies = await owner.send(command)
    return text_of(await person.send("/start " + link_payload(replies)))


async def count(app, table) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return await uow.session.scalar(select(func.count()).select_from(table))


async def test_an_admin_invites_a_cashier_with_a_one_time_link(app, chat):
    owner = chat(OWNER, name="Olga")
    replies = await owner.send("/invite cashier")
    text = text_of(replies)
    assert "Одноразовая ссылка-приглашение (роль: кассир), действует 24 часа:" in text
    assert "https://telegram.test/?start=staff-" in text
    payload = link_payload(replies)
    kate = chat("7", name="Kate")
    assert "Теперь вы кассир в «Coffee Point»" in text_of(await kate.send(f"/start {payload}"))
    assert "уже использована" in text_of(await chat("8").send(f"/start {payload}"))
    assert "Введите номер карты" in text_of(await kate.send("/checkout"))
    async with app.core.unit_of_work() as uow:
        invite = (await uow.session.execute(select(StaffInvite))).scalar_one()
    assert invite.created_by == await identity_id(app, OWNER)


async def test_an_invite_can_bind_a_cashier_to_an_outlet(app, chat, clock, outbox):
    async with app.core.unit_of_work() as uow:
        mall = await uow.outlets.add("Mall", clock.now())
        await uow.commit()
    owner = chat(OWNER)
    assert "Точки «Moon» нет. Точки: Main, Mall." in text_of(await owner.send("/invite cashier Moon"))
    kate = chat("7", name="Kate")
    await invited(owner, kate, "/invite cashier mall")
    ivan = chat("42")
    await ivan.sign_up()
    await scan(ivan, kate)
    await kate.press(button(await kate.press(button(await kate.send("100"), "co.earn:")), "co.ok:"))
    async with app.core.unit_of_work() as uow:
        purchase = (await uow.session.execute(select(Purchase))).scalar_one()
    assert purchase.outlet_id == mall.id
    assert "Mall" in text_of(await owner.send("/staff"))


async def test_invite_usage_and_an_admin_invite(app, chat):
    owner = chat(OWNER)
    assert "/invite cashier Main" in text_of(await owner.send("/invite"))
    assert "/invite cashier или /invite admin" in text_of(await owner.send("/invite boss"))
    assert await count(app, StaffInvite) == 0
    anna = chat("2", name="Anna")
    assert "Теперь вы администратор" in await invited(owner, anna, "/invite ADMIN")
    assert "staff.list" in payloads_of(await anna.send("/start"))


async def test_the_staff_list_and_removing_a_cashier(app, chat, outbox):
    owner = chat(OWNER)
    anna, kate = chat("2", name="Anna"), chat("7", name="Kate")
    await invited(owner, anna, "/invite admin")
    await invited(owner, kate)
    await kate.sign_up(phone="+79007654321")  # Kate joined the program too: her name shows
    kate_id, anna_id = await identity_id(app, "7"), await identity_id(app, "2")

    replies = await anna.send("/staff")
    text = text_of(replies)
    assert "• Администратор: Telegram 2" in text  # not a customer: the channel and the id
    assert "• Кассир: Kate (Telegram)" in text  # a customer too: her name
    assert "Администраторы из файла настроек: Telegram 1" in text
    assert "telegram" not in text
    assert f"staff.rm:{kate_id}" in payloads_of(replies)
    assert f"staff.rm:{anna_id}" not in payloads_of(replies)  # not oneself

    ask = await anna.press(f"staff.rm:{kate_id}")
    assert "Кассир Kate (Telegram): убрать из сотрудников?" in text_of(ask)
    assert "Никого не убрали" in text_of(await anna.press("staff.keep"))
    assert await count(app, Staff) == 2
    done = await anna.press(button(ask, "staff.rm-ok:"))
    assert "Kate (Telegram) больше не сотрудник." in text_of(done)
    assert outbox.to("7") == ["Вас убрали из сотрудников «Coffee Point»."]
    assert "только для сотрудников" in text_of(await kate.send("/checkout"))
    gone = text_of(await anna.press(button(ask, "staff.rm-ok:")))
    assert "Этого человека уже нет среди сотрудников" in gone
    async with app.core.unit_of_work() as uow:  # she keeps her own card
        assert (await uow.session.get(Identity, kate_id)).customer_id is not None


async def test_the_staff_list_names_people_readably_in_english(app, chat):
    owner = chat(OWNER, name="Olga", language="en")
    await owner.sign_up(phone="+79005550011")  # the admin from the config joined the program
    visitor = "Vx3kQ9mZp2LwT7rYc8N1bA4d"  # a web chat visitor's id is long: it is cut
    await invited(owner, chat(visitor, channel=WEB_LIKE, name=None))
    text = text_of(await owner.send("/staff"))
    assert "Administrators from the config file: Olga (Telegram)" in text
    assert "• Cashier: Web chat Vx3kQ9mZ…" in text
    assert visitor not in text and "web" not in text


async def test_an_admin_can_not_remove_themselves(app, chat):
    owner, anna = chat(OWNER), chat("2", name="Anna")
    await invited(owner, anna, "/invite admin")
    anna_id = await identity_id(app, "2")
    assert "Себя убрать нельзя" in text_of(await anna.press(f"staff.rm:{anna_id}"))
    assert "Себя убрать нельзя" in text_of(await anna.press(f"staff.rm-ok:{anna_id}"))
    assert await count(app, Staff) == 1
    await owner.press(f"staff.rm-ok:{anna_id}")  # another admin can
    assert await count(app, Staff) == 0
    assert "только администратор" in text_of(await anna.send("/staff"))


async def test_cashiers_can_not_use_staff_commands(app, chat):
    owner, kate = chat(OWNER), chat("7", name="Kate")
    await invited(owner, kate)
    owner_payloads = payloads_of(await owner.send("/staff"))
    for typed in ("/invite cashier", "/invite admin", "/staff"):
        assert text_of(await kate.send(typed)) == "Извините, это может сделать только администратор."
    for payload in ["staff.list", *owner_payloads, "staff.rm-ok:1"]:
        assert "только администратор" in text_of(await kate.press(payload))
    assert await count(app, Staff) == 1 and await count(app, StaffInvite) == 1
    assert "co.start" in payloads_of(await kate.send("/start"))
