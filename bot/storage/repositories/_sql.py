"""What several repositories share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Base

IN_CHUNK = 5000  # ids in one IN (...) list: under every database's parameter limit


def insert_ignoring_duplicates(session: AsyncSession, table: type[Base]
                               ) -> postgresql.Insert | sqlite.Insert:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_nothing()


def upsert(session: AsyncSession, table: type[Base], values: dict[str, Any], keys: Sequence[str],
           update: Sequence[str]) -> postgresql.Insert | sqlite.Insert:
    """Insert ``values``; on a row with the same ``keys``, set its ``update`` columns to the
    new values instead."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).values(**values)
    return stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={name: stmt.excluded[name] for name in update})
