"""broadcast recipients are fixed at the confirmation: every recipient's row is written
then, and ``written_at`` tells whose outbox message is still to be written (None)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEX = "ix_broadcast_recipients_unwritten"


def upgrade() -> None:
    op.add_column("broadcast_recipients",
                  sa.Column("written_at", sa.DateTime(timezone=True), nullable=True))
    # every row so far was written together with its outbox message
    op.execute("UPDATE broadcast_recipients SET written_at = created_at")
    op.create_index(INDEX, "broadcast_recipients", ["broadcast_id", "written_at", "customer_id"],
                    unique=False)


def downgrade() -> None:
    # before 0011 a row without an outbox message meant "unreachable when written", so the
    # recipients still waiting are dropped (the broadcast's "left" counts them again)
    op.execute("DELETE FROM broadcast_recipients WHERE written_at IS NULL")
    op.drop_index(INDEX, table_name="broadcast_recipients")
    with op.batch_alter_table("broadcast_recipients") as batch:
        batch.drop_column("written_at")
