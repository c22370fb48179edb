"""One-time staff invite links."""

from __future__ import annotations

from bot.app import admin_invite_links
from bot.console.invites import create_invite
from tests.chat import payloads_of, text_of


async def test_admin_link_printed_at_start_makes_its_first_opener_admin_once(app, chat):
    [link] = await admin_invite_links(app)
    payload = link.split("?start=")[1]
    owner = chat("1")
    replies = await owner.send(f"/start {payload}")
    assert "Теперь вы администратор в «Coffee Point»" in text_of(replies)
    assert "con.join" in payloads_of(replies)  # may join as a customer too
    thief = chat("2")
    assert "уже использована" in text_of(await thief.send(f"/start {payload}"))
    assert await admin_invite_links(app) == []  # an admin exists now


async def test_cashier_invite(app, chat, clock):
    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    assert "Теперь вы кассир" in text_of(await chat("5").send(f"/start {payload}"))


async def test_forged_invite_is_refused(app, chat):
    assert "недействительна" in text_of(await chat("5").send("/start staff-forged"))


async def test_a_later_start_retires_the_admin_links_printed_before_it(app, chat, clock):
    [old] = await admin_invite_links(app)
    clock.advance(minutes=6)
    [new] = await admin_invite_links(app)  # printed again at the next start
    assert "недействительна" in text_of(await chat("1").send("/start " + old.split("?start=")[1]))
    assert "администратор" in text_of(await chat("2").send("/start " + new.split("?start=")[1]))


async def test_the_admin_links_of_processes_started_together_all_work_until_one_is_used(app, chat, clock):
    """Two web processes start at once and each prints its link: the owner may open either
    (the one in the log they read); once one is used, the other is dead."""
    [first] = await admin_invite_links(app)
    clock.advance(seconds=20)
    [second] = await admin_invite_links(app)
    assert first != second
    replies = await chat("1").send("/start " + first.split("?start=")[1])
    assert "Теперь вы администратор" in text_of(replies)
    assert "недействительна" in text_of(await chat("2").send("/start " + second.split("?start=")[1]))


async def test_invites_expire_after_a_day(app, chat, clock):

    async with app.core.unit_of_work() as uow:
        payload = await create_invite(uow, "cashier", None, clock.now())
        await uow.commit()
    clock.advance(hours=24, seconds=1)
    assert "устарела" in text_of(await chat("5").send(f"/start {payload}"))
