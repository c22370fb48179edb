"""API keys with a role: a till's key records purchases, an admin key also reads reports

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pos_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False,
                                      server_default="till"))


def downgrade() -> None:
    with op.batch_alter_table("pos_keys", schema=None) as batch_op:
        batch_op.drop_column("role")
