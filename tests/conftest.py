from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Application, build
from bot.config import Settings
from bot.core.clock import FrozenClock
from bot.core.context import ChannelInfo
from bot.storage import database
from tests.chat import TELEGRAM_LIKE, ChatUser
from tests.support.process import BotProcess

pytest_plugins = ["tests.support.postgres"]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once per run; each test gets a copy."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(database.upgrade(sqlite_url(path)))
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    path = tmp_path / "loyalty.db"
    shutil.copy(migrated_template, path)
    return sqlite_url(path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database={"url": db_url}, card={"secret": "test-signing-key-0123456789"},
                    shop={"name": "Coffee Point"})


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Application]:
    application = await build(settings, clock)
    yield application
    await application.close()


@pytest.fixture
def chat(app: Application) -> Callable[..., ChatUser]:
    """``chat("42")`` is a person writing to the bot through a Telegram-like channel."""

    def person(external_id: str = "42", channel: ChannelInfo = TELEGRAM_LIKE, **kwargs) -> ChatUser:  # type: ignore[no-untyped-def]
        kwargs.setdefault("flush", app.outbox.send_due)
        return ChatUser(app.core, channel, external_id, **kwargs)

    return person


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """The same test on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return db_url
    url: str = request.getfixturevalue("pg_migrated_url")
    return url


@pytest.fixture
async def sessions(any_db_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    """A session factory on each database (SQLite, then PostgreSQL)."""
    engine = database.create_engine(any_db_url)
    yield database.session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def pg_settings(pg_migrated_url: str) -> Settings:
    """Settings of a migrated PostgreSQL database, for tests that run real processes on it."""
    return Settings(database={"url": pg_migrated_url},
                    card={"secret": "test-signing-key-0123456789"}, shop={"name": "Coffee Point"})


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    """The real processes a test started, killed at its end whatever happened."""
    started: list[BotProcess] = []
    yield started
    for process in started:
        await process.kill()
