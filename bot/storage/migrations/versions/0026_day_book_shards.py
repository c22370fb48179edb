"""the day book's rows in shards: concurrent purchases add into different rows

Every purchase adds into today's rows of the book; on PostgreSQL each writer now takes a
shard of its own (bot/storage/day_book.py), so the rows are keyed by their shard too. The
rows there are shard 0, which a sum over the shards leaves as they were.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

KEYS = {"stats_days": ["day"], "stats_gaps": ["day", "previous_day", "nth"],
        "stats_cohorts": ["cohort", "month"]}


def upgrade() -> None:
    for table, keys in KEYS.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.add_column(sa.Column("shard", sa.SmallInteger(), nullable=False,
                                       server_default="0"))
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [*keys, "shard"])
        with op.batch_alter_table(table) as batch:
            batch.alter_column("shard", server_default=None)


def downgrade() -> None:
    for table, keys in KEYS.items():
        counters = _counters(table)
        sums = ", ".join(f"sum({c}) AS {c}" for c in counters)
        # fold the shards into one row per key before the key loses its shard
        op.execute(f"CREATE TEMPORARY TABLE folded_{table} AS SELECT {', '.join(keys)}, {sums} "
                   f"FROM {table} GROUP BY {', '.join(keys)}")
        op.execute(f"DELETE FROM {table}")
        op.execute(f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(counters)}, shard) "
                   f"SELECT *, 0 FROM folded_{table}")
        op.execute(f"DROP TABLE folded_{table}")
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", keys)
            batch.drop_column("shard")


def _counters(table: str) -> list[str]:
    return {"stats_days": ["purchases", "revenue", "points_issued", "points_spent",
                           "points_expired", "joined", "joined_revenue"],
            "stats_gaps": ["purchases"], "stats_cohorts": ["buyers"]}[table]
