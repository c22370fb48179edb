"""a card or a cashier an admin blocked after a velocity alert

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("customers", "staff"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("customers", "staff"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("blocked_at")
