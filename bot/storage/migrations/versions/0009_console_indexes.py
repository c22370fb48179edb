"""indexes for the owner's console: purchases, point operations and sign-ups by date

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_purchases_occurred", "purchases",
                    ["occurred_at", "customer_id", "amount", "refunded_amount"], unique=False)
    op.create_index("ix_point_operations_created", "point_operations", ["created_at"], unique=False)
    op.create_index("ix_customers_registered", "customers", ["registered_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customers_registered", table_name="customers")
    op.drop_index("ix_point_operations_created", table_name="point_operations")
    op.drop_index("ix_purchases_occurred", table_name="purchases")
