"""Outlets and their POS API keys in the admin's chat (/outlets, or from /staff): add an
outlet, create a key (shown once), revoke one; every change is audited, and a revoked key
is refused by the POS API."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.api.keys import hash_key
from bot.config import Settings
from bot.storage.models import AuditEntry, PosKey
from tests.chat import OWNER, ChatUser, owner_settings, payloads_of, text_of
from tests.test_cashier_chat import button
from tests.test_staff_commands import invited


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


async def audited(app) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        entries = (await uow.session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(entry.action, entry.details) for entry in entries]


async def keys(app) -> list[PosKey]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(PosKey).order_by(PosKey.id))).scalars())


async def new_key(owner: ChatUser, outlet_id: int, name: str, admin: bool = False) -> str:
    """Create a key through the chat; returns the secret shown in the reply."""
    if admin:
        await owner.press(button(await owner.press(f"ol.adm:{outlet_id}"), f"ol.key:{outlet_id}:"))
    else:
        await owner.press(f"ol.key:{outlet_id}")
    replies = await owner.send(name)
    return replies[1].text  # type: ignore[union-attr]


async def test_the_staff_list_leads_to_the_outlets_and_their_keys(app, chat):
    owner = chat(OWNER)
    assert "ol.list" in payloads_of(await owner.send("/staff"))
    secret = await new_key(owner, 1, "Till 1")
    replies = await owner.press("ol.list")
    text = text_of(replies)
    assert "🏪 Main\n• «Till 1»: ключ кассы, создан 2 марта 2026 г." in text
    assert secret not in text and hash_key(secret) not in text
    assert payloads_of(replies) == ["ol.o:1", "ol.add"]
    assert text_of(await owner.send("/outlets")) == text


async def test_an_admin_adds_an_outlet_and_a_duplicate_is_refused_politely(app, chat):
    owner = chat(OWNER)
    assert "Введите название новой точки" in text_of(await owner.press("ol.add"))
    assert "Уже есть точка «main»" in text_of(await owner.send("  main "))
    assert "1 до 64 символов" in text_of(await owner.send("x" * 65))
    replies = await owner.send("Mall   East")
    assert "✅ Точка «Mall East» добавлена." in text_of(replies)
    assert "• ключей нет" in text_of(replies)
    async with app.core.unit_of_work() as uow:
        assert [o.name for o in await uow.outlets.all()] == ["Main", "Mall East"]
        mall = await uow.outlets.by_name("Mall East")
    assert await audited(app) == [("outlet_add", {"outlet_id": mall.id, "name": "Mall East"})]
    assert "Mall East" not in text_of(await owner.send("Mall East"))  # the flow is over
    assert len(await audited(app)) == 1


async def test_a_key_is_shown_once_and_only_its_hash_is_kept(app, chat):
    owner = chat(OWNER)
    ask = await owner.press("ol.key:1")
    assert "Новый ключ кассы для «Main»" in text_of(ask)
    replies = await owner.send("Till 1")
    head, shown, warning = (reply.text for reply in replies)  # type: ignore[union-attr]
    assert head == "Новый ключ кассы «Till 1» для «Main»:"
    assert "показан только сейчас" in warning
    [key] = await keys(app)
    assert (key.key_hash, key.role, key.label, key.outlet_id) == (hash_key(shown), "till", "Till 1", 1)
    assert await audited(app) == [("key_create", {"key_id": key.id, "outlet_id": 1, "role": "till",
                                                  "label": "Till 1"})]
    text = text_of(await owner.press("ol.o:1"))
    assert "«Till 1»: ключ кассы" in text and shown not in text


async def test_an_admin_key_needs_its_own_choice(app, chat):
    owner = chat(OWNER)
    warning = await owner.press("ol.adm:1")
    assert "читает отчёты" in text_of(warning)
    assert payloads_of(warning) == ["ol.key:1:admin", "ol.o:1"]
    assert (await keys(app)) == []
    await new_key(owner, 1, "Office", admin=True)
    [key] = await keys(app)
    assert key.role == "admin"


async def test_a_revoked_key_is_refused_by_the_pos_api(app, chat):
    owner = chat(OWNER)
    secret = await new_key(owner, 1, "Till 1")
    async with TestClient(TestServer(app.web)) as client:
        async def lookup() -> int:
            response = await client.get("/api/v1/cards/0000000000",
                                        headers={"Authorization": f"Bearer {secret}"})
            return response.status

        assert await lookup() != 401
        [key] = await keys(app)
        ask = await owner.press(f"ol.rv:{key.id}")
        assert "Отозвать ключ кассы «Till 1» точки «Main»?" in text_of(ask)
        assert "ol.o:1" in payloads_of(ask)  # «Cancel» goes back to the outlet
        assert await lookup() != 401
        done = await owner.press(button(ask, "ol.rv-ok:"))
        assert "✅ Ключ «Till 1» отозван" in text_of(done)
        assert "• ключей нет" in text_of(done)
        assert await lookup() == 401
    again = await owner.press(f"ol.rv-ok:{key.id}")  # a second tap changes nothing
    assert "Этот ключ уже отозван" in text_of(again)
    actions = [action for action, _details in await audited(app)]
    assert actions == ["key_create", "key_revoke"]


async def test_cashiers_and_stale_buttons_get_the_polite_refusal(app, chat):
    owner, kate = chat(OWNER), chat("7", name="Kate")
    await invited(owner, kate)
    await new_key(owner, 1, "Till 1")
    [key] = await keys(app)
    admin_buttons = payloads_of(await owner.send("/outlets")) + payloads_of(await owner.press("ol.o:1"))
    refusal = "Извините, это может сделать только администратор."
    assert text_of(await kate.send("/outlets")) == refusal
    for payload in [*admin_buttons, "ol.key:1:admin", f"ol.rv-ok:{key.id}"]:
        assert text_of(await kate.press(payload)) == refusal, payload
    [still] = await keys(app)
    assert still.revoked_at is None and len(await keys(app)) == 1
    assert [action for action, _ in await audited(app)] == ["key_create"]


async def test_a_removed_admin_can_not_finish_typing_a_key_name(app, chat, clock):
    owner, anna = chat(OWNER), chat("2", name="Anna")
    await invited(owner, anna, "/invite admin")
    await anna.press("ol.key:1")
    async with app.core.unit_of_work() as uow:  # removed while typing
        from bot.storage.repositories import Roster

        anna_id = (await Roster(uow.session).entries())[0].identity_id
        await Roster(uow.session).remove(anna_id)
        await uow.commit()
    assert "только администратор" in text_of(await anna.send("Till 1"))
    assert await keys(app) == []
