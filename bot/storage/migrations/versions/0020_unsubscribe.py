"""a broadcast recipient's tap on «Unsubscribe» under the message, counted in its report

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("broadcast_recipients",
                  sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast_recipients") as batch:
        batch.drop_column("unsubscribed_at")
