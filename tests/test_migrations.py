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


async def test_earlier_expiry_warnings_become_the_day_their_lot_burns(tmp_path):
    """0016: a warning recorded by its lot is recorded by the shop day that lot burns on
    (the zone the day book was built in); two old warnings about one day stay two rows."""
    from sqlalchemy import text

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await database.upgrade(url, "0015")
    engine = database.create_engine(url)
    rows = [
        "INSERT INTO stats_book (id, timezone, built_at) VALUES (1, 'Europe/Moscow', '2026-01-01')",
        ("INSERT INTO customers (id, card_number, consent_at, created_at, phone_verified, "
         "purchase_count, total_spent, notify_promotions, notify_reminders, notify_digest) "
         "VALUES (1, '1', '2026-01-01', '2026-01-01', 0, 0, 0, 1, 1, 1)"),
        ("INSERT INTO point_operations (id, customer_id, kind, reason, amount, created_at) "
         "VALUES (1, 1, 'earn', 'gift', 100, '2026-01-01')"),
        *(f"INSERT INTO point_lots (id, customer_id, operation_id, reason, amount, remaining, "
          f"created_at, available_at, expires_at) VALUES ({lot}, 1, 1, 'gift', 50, 50, "
          f"'2026-01-01', '2026-01-01', '{burns}')"
          for lot, burns in ((7, "2026-04-30 22:30:00"), (8, "2026-05-01 10:00:00"))),
        *(f"INSERT INTO trigger_sends (id, customer_id, trigger, episode, held_out, points_given, "
          f"created_at) VALUES ({n}, 1, '{trigger}', '{episode}', 0, 0, '2026-04-20')"
          for n, trigger, episode in ((1, "expiry_warning", "7"), (2, "expiry_warning", "8"),
                                      (3, "birthday", "2026"))),
    ]
    try:
        async with engine.begin() as connection:
            for statement in rows:
                await connection.execute(text(statement))
        await database.upgrade(url)
        async with engine.connect() as connection:
            episodes = (await connection.execute(
                text("SELECT episode FROM trigger_sends ORDER BY id"))).scalars().all()
    finally:
        await engine.dispose()
    # 22:30 UTC on 30 April is 1 May in Moscow
    assert episodes == ["2026-05-01", "2026-05-01#2", "2026"]
