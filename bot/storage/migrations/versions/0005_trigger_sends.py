"""automatic triggers: one row per customer, trigger and episode

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trigger_sends",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("episode", sa.String(length=32), nullable=False),
        sa.Column("held_out", sa.Boolean(), nullable=False),
        sa.Column("outbox_message_id", ID, nullable=True),
        sa.Column("points_given", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_trigger_sends_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox.id"],
                                name=op.f("fk_trigger_sends_outbox_message_id_outbox"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_sends")),
        sa.UniqueConstraint("customer_id", "trigger", "episode",
                            name=op.f("uq_trigger_sends_customer_id")),
    )
    op.create_index("ix_trigger_sends_trigger_created", "trigger_sends",
                    ["trigger", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_trigger_sends_trigger_created", table_name="trigger_sends")
    op.drop_table("trigger_sends")
