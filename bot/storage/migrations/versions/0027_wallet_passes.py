"""wallet passes and the Apple devices registered for their updates (bot/wallet/)

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wallet_passes",
        sa.Column("id", Id, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("google_saved", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_wallet_passes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_passes")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_wallet_passes_customer_id")),
        sa.UniqueConstraint("serial", name=op.f("uq_wallet_passes_serial")),
    )
    op.create_table(
        "wallet_registrations",
        sa.Column("id", Id, nullable=False),
        sa.Column("pass_id", Id, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("push_token", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["pass_id"], ["wallet_passes.id"], ondelete="CASCADE",
                                name=op.f("fk_wallet_registrations_pass_id_wallet_passes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_registrations")),
        sa.UniqueConstraint("device_id", "pass_id", name=op.f("uq_wallet_registrations_device_id")),
    )
    op.create_index("ix_wallet_registrations_pass_id", "wallet_registrations", ["pass_id"])


def downgrade() -> None:
    op.drop_index("ix_wallet_registrations_pass_id", table_name="wallet_registrations")
    op.drop_table("wallet_registrations")
    op.drop_table("wallet_passes")
