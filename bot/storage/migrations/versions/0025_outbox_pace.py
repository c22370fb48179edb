"""the outbox's rate limits shared by every process on PostgreSQL (bot/delivery/pace.py)

The table starts empty: a row is written by the first send of a channel or a chat. On
PostgreSQL it is UNLOGGED: its rows change with every batch sent, and none is worth a WAL
write or a wait for one at the commit (after a crash the server empties it, and the limits
start afresh, as they do when a single process restarts).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_pace",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat", sa.String(length=64), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel", "chat", name=op.f("pk_outbox_pace")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_pace SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("outbox_pace")
