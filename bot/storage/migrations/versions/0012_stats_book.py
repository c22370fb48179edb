"""the day book: running totals behind the owner's figures, kept by every write

The tables start empty; the app fills them from the receipts and the points ledger when it
starts (bot/storage/day_book.py: its days are the shop's, and the time zone is in the
config, not here).

Revision ID: 0012
Revises: 0011
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COUNTER: dict[str, Any] = {"nullable": False}


def _counters(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), **COUNTER) for name in names]


def upgrade() -> None:
    op.create_table(
        "stats_book",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_book")),
    )
    op.create_table(
        "stats_days",
        sa.Column("day", sa.Date(), nullable=False),
        *_counters("purchases", "revenue", "points_issued", "points_spent", "points_expired",
                   "joined", "joined_revenue"),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_stats_days")),
    )
    op.create_table(
        "stats_gaps",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("previous_day", sa.Date(), nullable=False),
        sa.Column("nth", sa.SmallInteger(), nullable=False),
        *_counters("purchases"),
        sa.PrimaryKeyConstraint("day", "previous_day", "nth", name=op.f("pk_stats_gaps")),
    )
    op.create_table(
        "stats_cohorts",
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *_counters("buyers"),
        sa.PrimaryKeyConstraint("cohort", "month", name=op.f("pk_stats_cohorts")),
    )


def downgrade() -> None:
    for table in ("stats_cohorts", "stats_gaps", "stats_days", "stats_book"):
        op.drop_table(table)
