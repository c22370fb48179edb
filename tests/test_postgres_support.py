"""Self-test for tests/support/postgres.py: a real server, reached through SQLAlchemy+asyncpg."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.postgres import (  # noqa: F401 - fixtures are used by name
    TemporaryPostgres,
    pg_database_url,
    pg_server,
)

pytestmark = pytest.mark.asyncio


async def test_url_shape(pg_server: TemporaryPostgres) -> None:
    assert pg_server.url == f"postgresql+asyncpg://postgres@127.0.0.1:{pg_server.port}/test"
    assert pg_server.run_as is None or pg_server.run_as in ("postgres", "nobody")


async def test_version_and_roundtrip(pg_server: TemporaryPostgres) -> None:
    engine = create_async_engine(pg_server.url)
    try:
        async with engine.begin() as conn:
            version = (await conn.execute(text("select version()"))).scalar_one()
            assert version.startswith("PostgreSQL ")

            await conn.execute(
                text("create table members (id serial primary key, name text not null, points int)")
            )
            await conn.execute(
                text("insert into members (name, points) values (:n, :p)"),
                [{"n": "alice", "p": 120}, {"n": "bob", "p": 35}],
            )
            rows = (
                await conn.execute(text("select name, points from members order by id"))
            ).all()
            assert [tuple(r) for r in rows] == [("alice", 120), ("bob", 35)]
    finally:
        await engine.dispose()


async def test_create_database_is_separate(pg_server: TemporaryPostgres) -> None:
    url = pg_server.create_database("separate_db")
    assert url == pg_server.url_for("separate_db")

    engine_a = create_async_engine(pg_server.url)
    engine_b = create_async_engine(url)
    try:
        async with engine_b.begin() as conn:
            assert (await conn.execute(text("select current_database()"))).scalar_one() == (
                "separate_db"
            )
            await conn.execute(text("create table only_here (x int)"))
            await conn.execute(text("insert into only_here values (1)"))

        async with engine_a.connect() as conn:
            assert (await conn.execute(text("select current_database()"))).scalar_one() == "test"
            found = (
                await conn.execute(text("select to_regclass('public.only_here') is not null"))
            ).scalar_one()
            assert found is False
    finally:
        await engine_a.dispose()
        await engine_b.dispose()


async def test_fresh_database_fixture(pg_database_url: str) -> None:
    engine = create_async_engine(pg_database_url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    text("select count(*) from pg_tables where schemaname = 'public'")
                )
            ).scalar_one()
            assert tables == 0
    finally:
        await engine.dispose()
