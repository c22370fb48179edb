"""/healthz and /readyz as a load balancer asks them: real HTTP against the application's own
aiohttp app, on SQLite and a real PostgreSQL, with the database migrated, one migration
behind, migrated by a newer release, and gone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build
from bot.config import Settings
from bot.core.clock import FrozenClock
from bot.storage import database
from bot.storage.health import DATABASE_UNREACHABLE, Probe, Readiness
from tests.support.postgres import TemporaryPostgres

HEAD = database.head_revision()


def settings_for(url: str) -> Settings:
    return Settings(database={"url": url}, card={"secret": "test-signing-key-0123456789"})


@pytest.fixture
async def client(any_db_url: str, clock: FrozenClock) -> AsyncIterator[TestClient]:
    async with serving(any_db_url, clock) as client:
        yield client


@asynccontextmanager
async def serving(url: str, clock: FrozenClock) -> AsyncIterator[TestClient]:
    """The application on ``url``, behind a test HTTP server."""
    application = await build(settings_for(url), clock)
    try:
        async with TestClient(TestServer(application.web)) as client:
            yield client
    finally:
        await application.close()


async def get(client: TestClient, path: str) -> tuple[int, Any]:
    response = await client.get(path)
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.status, await response.json()


def previous_revision() -> str:
    from alembic.script import ScriptDirectory

    down = ScriptDirectory(str(database.MIGRATIONS_DIR)).get_revision(HEAD).down_revision
    assert isinstance(down, str)
    return down


async def test_both_answer_200_on_a_migrated_database(client):
    assert await get(client, "/healthz") == (200, {"status": "ok"})
    assert await get(client, "/readyz") == (200, {"status": "ready", "revision": HEAD})
    assert (await client.head("/readyz")).status == 200  # what some balancers send


async def test_not_ready_while_a_migration_is_pending_and_ready_after_it(client, any_db_url):
    await database.downgrade(any_db_url, "-1")
    assert await get(client, "/readyz") == (503, {
        "status": "unavailable", "error": "migrations_pending",
        "current": previous_revision(), "expected": HEAD})
    assert await get(client, "/healthz") == (200, {"status": "ok"})
    await database.upgrade(any_db_url)
    assert (await get(client, "/readyz"))[0] == 200


async def test_not_ready_when_a_newer_release_migrated_the_database(db_url, clock):
    async with serving(db_url, clock) as client:
        file = db_url.removeprefix("sqlite+aiosqlite:///")
        with sqlite3.connect(file) as connection:
            connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        assert await get(client, "/readyz") == (503, {
            "status": "unavailable", "error": "unknown_revision",
            "current": "9999_from_the_future", "expected": HEAD})


async def test_not_ready_when_the_sqlite_file_is_gone_and_ready_when_it_is_back(tmp_path, db_url, clock):
    async with serving(db_url, clock) as client:
        file = Path(db_url.removeprefix("sqlite+aiosqlite:///"))
        moved = tmp_path / "elsewhere"
        moved.mkdir()
        gone = [(path, moved / path.name) for path in file.parent.glob(file.name + "*")]
        for here, there in gone:
            here.rename(there)
        assert await get(client, "/readyz") == (503, {
            "status": "unavailable", "error": "database_unreachable", "expected": HEAD})
        assert await get(client, "/healthz") == (200, {"status": "ok"})
        assert not file.exists()  # noqa: ASYNC240 - the probe left no empty database there
        for here, there in gone:
            there.rename(here)
        assert (await get(client, "/readyz"))[0] == 200


async def test_not_ready_when_the_postgresql_server_stops(pg_server, clock):
    """A server of its own, stopped under the running app (the shared one serves others)."""
    with TemporaryPostgres(bin_dir=pg_server.bin_dir) as server:
        await database.upgrade(server.url)
        async with serving(server.url, clock) as client:
            assert (await get(client, "/readyz"))[0] == 200
            server.stop()
            assert await get(client, "/readyz") == (503, {
                "status": "unavailable", "error": "database_unreachable", "expected": HEAD})
            assert await get(client, "/healthz") == (200, {"status": "ok"})


async def test_a_database_that_never_answers_is_unreachable_within_the_timeout():
    """A server that takes the connection and says nothing: the probe gives up, it does not
    hang the load balancer's request."""
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    probe = Probe(f"postgresql+asyncpg://shop@127.0.0.1:{port}/loyalty", timeout=0.5)
    try:
        async with asyncio.timeout(5):
            assert await probe.check() == Readiness(DATABASE_UNREACHABLE, expected=HEAD)
    finally:
        await probe.close()
        silent.close()
