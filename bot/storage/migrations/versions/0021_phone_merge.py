"""typed phones: found by the cashier (an index), the welcome bonus once per phone number,
and the cards that share a phone which the admins merge or keep apart

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_customers_phone", "customers", ["phone"])
    op.create_table(
        "welcomed_phones",
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("welcomed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash", name=op.f("pk_welcomed_phones")),
    )
    op.create_table(
        "shared_phones",
        sa.Column("id", ID, nullable=False),
        sa.Column("verified_customer_id", ID, nullable=False),
        sa.Column("typed_customer_id", ID, nullable=False),
        sa.Column("typed_card_number", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", ID, nullable=True),
        sa.CheckConstraint("status IN ('open', 'merged', 'apart')",
                           name=op.f("ck_shared_phones_status")),
        sa.ForeignKeyConstraint(["verified_customer_id"], ["customers.id"],
                                name=op.f("fk_shared_phones_verified_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["identities.id"],
                                name=op.f("fk_shared_phones_decided_by_identities"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_phones")),
    )
    op.create_index("uq_shared_phones_pair", "shared_phones",
                    ["verified_customer_id", "typed_customer_id"], unique=True,
                    sqlite_where=sa.text("status != 'merged'"),
                    postgresql_where=sa.text("status != 'merged'"))
    op.create_index("ix_shared_phones_typed_customer", "shared_phones", ["typed_customer_id"])
    op.create_index("ix_shared_phones_typed_card", "shared_phones", ["typed_card_number"])


def downgrade() -> None:
    op.drop_index("ix_shared_phones_typed_card", table_name="shared_phones")
    op.drop_index("ix_shared_phones_typed_customer", table_name="shared_phones")
    op.drop_index("uq_shared_phones_pair", table_name="shared_phones")
    op.drop_table("shared_phones")
    op.drop_table("welcomed_phones")
    op.drop_index("ix_customers_phone", table_name="customers")
