"""Migrations: the stairway (up, down, up) on SQLite and PostgreSQL, and no drift from
the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.storage import database
from bot.storage.models import Base


async def table_names(url: str) -> set[str]:
    engine = database.create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(any_db_url):
    tables = set(Base.metadata.tables)
    assert tables <= await table_names(any_db_url)
    await database.downgrade(any_db_url, "base")
    assert await table_names(any_db_url) <= {"alembic_version"}
    await database.upgrade(any_db_url)
    assert tables <= await table_names(any_db_url)


async def test_migrations_match_the_models(any_db_url):
    engine = database.create_engine(any_db_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []


async def test_start_migrates_sqlite_but_asks_for_an_explicit_upgrade_on_postgresql(
        tmp_path, pg_database_url):
    import pytest

    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    await database.prepare(sqlite)
    assert await database.schema_is_current(sqlite)
    with pytest.raises(SystemExit, match="db upgrade"):
        await database.prepare(pg_database_url)
    await database.upgrade(pg_database_url)
    await database.prepare(pg_database_url)
