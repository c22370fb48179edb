"""which till recorded a purchase or a refund

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for table in ("purchases", "refunds"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("pos_key_id", ID, nullable=True))
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_pos_key_id_pos_keys"), "pos_keys",
                                        ["pos_key_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    for table in ("refunds", "purchases"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_pos_key_id_pos_keys"), type_="foreignkey")
            batch_op.drop_column("pos_key_id")
