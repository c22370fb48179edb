"""Engine creation and schema migrations."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage.leader import MIGRATION_LOCK, one_at_a_time
from bot.storage.session import BookedSession

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def create_engine(url: str, *, echo: bool = False, migrating: bool = False) -> AsyncEngine:
    """The app's engine. ``migrating``: SQLite's foreign keys stay off, as its table
    rebuilds need (a dropped table would otherwise cascade into the tables that refer to
    it); the migration checks them at its end."""
    if make_url(url).get_backend_name() == "sqlite":
        # One connection: SQLite has one writer anyway, and waiting for the pool is fair
        # and cheap, where waiting in SQLite's busy handler is neither.
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30},
                                     pool_size=1, max_overflow=0, pool_timeout=120)
        _serialize_sqlite_writers(engine, foreign_keys=not migrating)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10)


def _serialize_sqlite_writers(engine: AsyncEngine, foreign_keys: bool = True) -> None:
    """Every transaction starts with BEGIN IMMEDIATE: a read-then-write (a balance check,
    then a spend) can never interleave with another writer, and no upgrade deadlock occurs."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy, not the driver, BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# What the layers above the storage name in their signatures, without importing SQLAlchemy.
Engine = AsyncEngine
Sessions = async_sessionmaker[AsyncSession]


def session_factory(engine: AsyncEngine) -> Sessions:
    """Sessions that keep the day book in step with every write it counts."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False,
                              sync_session_class=BookedSession)


def create_reader(url: str) -> AsyncEngine:
    """An engine for long reads that must see one moment (the day book's check): each
    transaction is one snapshot and takes no write lock. SQLite: a deferred transaction on
    its own connection (WAL lets it read while the app writes); PostgreSQL: repeatable read,
    read only."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")

        return engine
    return create_async_engine(url, pool_size=1, max_overflow=0,
                               isolation_level="REPEATABLE READ",
                               execution_options={"postgresql_readonly": True})


def create_probe(url: str, timeout: float) -> AsyncEngine:
    """An engine for the readiness probe: a new connection each time (none kept from a pool
    that may have gone stale), which only reads and gives up connecting after ``timeout``
    seconds. A SQLite file is opened read-only, so a missing one is not created empty."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = str(Path(parsed.database or "").resolve())
        read_only = parsed.set(database=f"file:{quote(path)}", query={"mode": "ro", "uri": "true"})
        return create_async_engine(read_only, poolclass=NullPool, connect_args={"timeout": timeout})
    return create_async_engine(url, poolclass=NullPool, connect_args={"timeout": timeout})


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run_alembic(url: str, action: str, revision: str) -> None:
    getattr(command, action)(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations. Alembic drives its own event loop, so it runs in a thread. On
    PostgreSQL two upgrades at once (two machines deploying) take turns, the later one
    finding the schema current: at once, both would create the same tables, one failing."""
    async with one_at_a_time(url, MIGRATION_LOCK):
        await asyncio.to_thread(_run_alembic, url, "upgrade", revision)


@functools.cache
def revisions() -> tuple[str, frozenset[str]]:
    """The latest revision this code migrates to, and every revision it knows."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "the migrations have a head"
    return head, frozenset(revision.revision for revision in script.walk_revisions())


def head_revision() -> str:
    return revisions()[0]


def current_revision(connection: Connection) -> str | None:
    """The database's Alembic revision (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


async def schema_is_current(url: str) -> bool:
    head = head_revision()
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(current_revision) == head
    finally:
        await engine.dispose()


async def prepare(url: str) -> None:
    """At start: a SQLite file is migrated by itself; a server database must already be
    (``loyalty-bot db upgrade``, run once per deployment, not by every instance)."""
    if make_url(url).get_backend_name() == "sqlite":
        await upgrade(url)
    elif not await schema_is_current(url):
        raise SystemExit("the database schema is not up to date: run `loyalty-bot db upgrade`")


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(_run_alembic, url, "downgrade", revision)


def where(url: str) -> str:
    """The database a person can find: a SQLite file's full path, else the URL (no password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return str(Path(parsed.database).resolve())
    return parsed.render_as_string(hide_password=True)
