"""typed phones: found by the cashier (an index), the welcome bonus once per phone number

Revision ID: 0021
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customers_phone", "customers", ["phone"])
    op.create_table(
        "welcomed_phones",
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("welcomed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash", name=op.f("pk_welcomed_phones")),
    )


def downgrade() -> None:
    op.drop_table("welcomed_phones")
    op.drop_index("ix_customers_phone", table_name="customers")
