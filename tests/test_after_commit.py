"""Work after the commit (bot/core/after_commit.py): a handler's slow work (a chart, an
export file, a downloaded picture) runs once its event's transaction has committed, so on
SQLite, whose only connection the transaction would hold, a cashier's purchase goes
through meanwhile; its replies come where the handler put them; a failure is an apology in
the person's language and undoes nothing the event changed. No handler commits by itself."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

import bot.handlers
from bot.config import Settings
from bot.console import audit, charts, export
from bot.core.after_commit import Later
from bot.core.events import Event, EventKind
from bot.core.replies import Picture, Reply, Text
from bot.core.routing import Router
from bot.storage.models import Broadcast, Conversation
from tests.chat import OWNER, owner_settings, text_of
from tests.test_cashier_chat import at_the_till, bought

SORRY = {"ru": "У нас что-то пошло не так. Попробуйте, пожалуйста, через минуту.",
         "en": "Something went wrong on our side. Please try again in a minute."}
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256))
PATIENCE = 30  # seconds (a loaded machine is slow); an open transaction would hold the pool for 120


@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url)


@pytest.fixture
def router(app) -> Router:  # type: ignore[no-untyped-def]
    """The app's core with the test's own handlers instead of the bot's."""
    app.core.router = Router()
    return app.core.router


def texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies if isinstance(reply, Text)]


def test_no_handler_commits_its_own_transaction():
    """The core commits each event once; slow work goes after it (Later), not between
    commits a handler makes."""
    folder = Path(bot.handlers.__file__).parent
    committing = [path.name for path in sorted(folder.glob("*.py"))
                  if ".commit(" in path.read_text(encoding="utf-8")]
    assert committing == []


async def test_the_work_runs_after_the_commit_in_the_place_it_was_given(app, chat, router):
    async def state_saved() -> list[Reply]:
        async with asyncio.timeout(PATIENCE), app.core.unit_of_work() as uow:
            saved = (await uow.session.execute(select(Conversation.state))).scalar_one()
        return [Text(f"saved: {saved}"), Text("and more")]

    @router.command("note")
    async def note(event, ctx):  # type: ignore[no-untyped-def]
        ctx.state.go("noted")
        return [Text("first"), Later(state_saved), Text("last")]

    assert texts(await chat("42").send("/note")) == ["first", "saved: noted", "and more", "last"]


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_a_failed_work_is_an_apology_and_the_event_stays_done(app, chat, router, caplog,
                                                                    language):
    async def broken() -> list[Reply]:
        raise OSError("no space left on device")

    @router.command("note")
    async def note(event, ctx):  # type: ignore[no-untyped-def]
        ctx.state.go("noted")
        return [Text("noted"), Later(broken), Later(broken), Text("after")]

    @router.state("noted")
    async def still(event, ctx):  # type: ignore[no-untyped-def]
        return [Text("still noted")]

    person = chat("42", language=language)
    assert texts(await person.send("/note")) == ["noted", SORRY[language], "after"]
    assert caplog.text.count("work after the commit failed") == 2
    assert texts(await person.send("hello")) == ["still noted"]  # the state change was kept


async def test_a_purchase_is_recorded_while_the_stats_charts_are_drawn(app, chat, clock,
                                                                       monkeypatch):
    ivan, kate = await at_the_till(app, chat, clock)
    await bought(kate, "1500")  # something for the weekly chart
    drawing, go_on = asyncio.Event(), threading.Event()
    loop, weekly_png = asyncio.get_running_loop(), charts.weekly_png

    def slow_weekly(*args):  # type: ignore[no-untyped-def]
        loop.call_soon_threadsafe(drawing.set)
        go_on.wait(2 * PATIENCE)
        return weekly_png(*args)

    monkeypatch.setattr(charts, "weekly_png", slow_weekly)
    stats = asyncio.create_task(chat(OWNER).send("/stats"))
    try:
        await asyncio.wait_for(drawing.wait(), PATIENCE)
        await asyncio.wait_for(kate.send("/checkout"), PATIENCE)
        [card] = await ivan.press("card")
        await asyncio.wait_for(kate.send(f"/start card-{card.cache_key}"), PATIENCE)
        assert await asyncio.wait_for(bought(kate, "700"), PATIENCE)  # its receipt
        assert not stats.done()
    finally:
        go_on.set()
    replies = await asyncio.wait_for(stats, PATIENCE)
    assert [type(reply) for reply in replies] == [Text, Picture, Picture]
    assert "Покупок: 1 на 1 500,00 ₽" in text_of(replies[:1])  # counted before the second


async def test_an_export_whose_audit_fails_is_an_apology_and_leaves_no_file(
        app, chat, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    written: list[str] = []
    real_export = export.export

    async def export_noted(*args, **kwargs):  # type: ignore[no-untyped-def]
        made = await real_export(*args, **kwargs)
        written.append(made.path)
        return made

    async def audit_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk I/O error")

    monkeypatch.setattr(export, "export", export_noted)
    monkeypatch.setattr(audit, "record", audit_down)
    assert texts(await chat(OWNER).press("ex.file:customers:csv")) == [SORRY["ru"]]
    assert len(written) == 1 and not Path(written[0]).exists()  # noqa: ASYNC240 - personal data: not left on disk


async def test_a_broadcast_picture_is_downloaded_outside_the_transaction(app, chat):
    owner = chat(OWNER)
    await owner.send("/broadcast")

    async def download() -> bytes:
        async with asyncio.timeout(PATIENCE), app.core.unit_of_work() as uow:
            await uow.session.execute(select(Broadcast.id))  # the connection is free
        return JPEG

    taken = await owner.push(Event(owner.ref, EventKind.PHOTO, text="Новый десерт",
                                   fetch_image=download, event_id="photo-1"))
    assert "Картинка есть." in text_of(taken)
    async with app.core.unit_of_work() as uow:
        draft = (await uow.session.execute(select(Broadcast))).scalar_one()
    assert (draft.image, draft.text) == (JPEG, "Новый десерт")
    # the platform delivers the same photo again: it was handled once
    assert await owner.push(Event(owner.ref, EventKind.PHOTO, fetch_image=download,
                                  event_id="photo-1")) == []


async def test_a_picture_that_cannot_be_downloaded_is_an_apology_and_the_draft_goes_on(app, chat):
    owner = chat(OWNER)
    await owner.send("/broadcast")

    async def unreachable() -> bytes:
        raise ConnectionError("the messenger's file server is down")

    failed = await owner.push(Event(owner.ref, EventKind.PHOTO, text="Новый десерт",
                                    fetch_image=unreachable))
    assert texts(failed) == [SORRY["ru"]]
    assert "Добавить кнопку-ссылку?" in text_of(await owner.send("Новый десерт"))  # still writing
