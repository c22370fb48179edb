"""An inbound photo through the real aiogram client and the fake Bot API: its largest size is
downloaded (getFile + the file URL) for an admin composing a broadcast; anyone else gets the
same answer as for a sticker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.storage.models import Broadcast
from tests.fakes.telegram_api import FakeBotAPI, message_update, sticker_update
from tests.test_telegram_channel import IVAN, PETR, Bot, api, bot  # noqa: F401 - fixtures

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database={"url": db_url}, card={"secret": "test-signing-key-0123456789"},
                    shop={"name": "Coffee Point"}, admins=[f"telegram:{IVAN}"])


def photo_update(api: FakeBotAPI, update_id: int, user_id: int, caption: str | None) -> dict[str, Any]:
    small = api.add_file(b"thumbnail", "photos/small.jpg")
    large = api.add_file(PHOTO, "photos/large.jpg")
    sizes = [{"file_id": small, "file_unique_id": "u-s", "width": 90, "height": 60},
             {"file_id": large, "file_unique_id": "u-l", "width": 1280, "height": 853}]
    user = {"id": user_id, "is_bot": False, "first_name": "Ivan", "language_code": "ru"}
    message: dict[str, Any] = {"message_id": update_id, "date": 0, "from": user, "photo": sizes,
                               "chat": {"id": user_id, "type": "private", "first_name": "Ivan"}}
    if caption is not None:
        message["caption"] = caption
    return {"update_id": update_id, "message": message}


async def test_an_admin_photo_becomes_the_broadcast_picture(bot: Bot):
    await bot.step(message_update(1, IVAN, "/broadcast"), 1)
    [taken] = await bot.step(photo_update(bot.api, 2, IVAN, "Новый десерт"), 1)
    assert "Картинка есть." in taken.params["text"]
    assert "Добавить кнопку-ссылку?" in taken.params["text"]
    assert [c.params["file_id"] for c in bot.api.calls_to("getFile")] == ["fake-file-2"]  # the largest
    async with bot.app.core.unit_of_work() as uow:
        draft = (await uow.session.execute(select(Broadcast))).scalar_one()
    assert (draft.image, draft.text, draft.status) == (PHOTO, "Новый десерт", "draft")


async def test_anyone_elses_photo_is_answered_like_a_sticker(bot: Bot):
    await bot.step(sticker_update(1, PETR), 1)
    await asyncio.sleep(0.3)  # every answer to the sticker is out
    answers = [c.params["text"] for c in bot.sent(PETR)]
    bot.api.push_update(photo_update(bot.api, 2, PETR, "подпись"))
    await bot.api.wait_for("sendMessage", 2 * len(answers))
    await bot.quiet()
    assert [c.params["text"] for c in bot.sent(PETR)] == answers * 2
    assert any("стикеры, голосовые, фото" in text for text in answers)
    assert bot.api.calls_to("getFile") == []  # nobody's photo is downloaded for nothing
