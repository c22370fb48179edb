"""the nightly snapshot of the customer segments (RFM, ABC × XYZ, …) and its history

The tables start empty: the nightly job (or the first /segments) writes the first snapshot
(bot/marketing/segment_snapshot.py).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segment_snapshots",
        sa.Column("id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_snapshots")),
    )
    op.create_index(op.f("ix_segment_snapshots_day"), "segment_snapshots", ["day"], unique=False)
    op.create_table(
        "segment_counts",
        sa.Column("snapshot_id", Id, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        sa.Column("moved_in", sa.BigInteger(), nullable=True),
        sa.Column("moved_out", sa.BigInteger(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["segment_snapshots.id"],
                                name=op.f("fk_segment_counts_snapshot_id_segment_snapshots"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("snapshot_id", "code", name=op.f("pk_segment_counts")),
    )
    op.create_table(
        "segment_scores",
        sa.Column("snapshot_id", Id, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("rfm", sa.String(length=16), nullable=False),
        sa.Column("abc", sa.String(length=1), nullable=True),
        sa.Column("xyz", sa.String(length=1), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_segment_scores_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["segment_snapshots.id"],
                                name=op.f("fk_segment_scores_snapshot_id_segment_snapshots"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("snapshot_id", "customer_id", name=op.f("pk_segment_scores")),
    )


def downgrade() -> None:
    for table in ("segment_scores", "segment_counts", "segment_snapshots"):
        op.drop_table(table)
