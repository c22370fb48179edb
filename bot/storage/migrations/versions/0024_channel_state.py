"""what channel adapters keep between messages, shared by every process: notes (numbered
menus, uploaded media ids, ids of messages edited in place) and published pictures

Both start empty: until now they lived in each process's memory.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_notes",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "key", name=op.f("pk_channel_notes")),
    )
    op.create_index(op.f("ix_channel_notes_expires_at"), "channel_notes", ["expires_at"])
    op.create_table(
        "published_pictures",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_published_pictures")),
    )
    op.create_index(op.f("ix_published_pictures_expires_at"), "published_pictures",
                    ["expires_at"])


def downgrade() -> None:
    for table in ("published_pictures", "channel_notes"):
        op.drop_table(table)
