"""the program's rules changed in the chat, over the config file's

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "setting_values",
        sa.Column("path", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["identities.id"],
                                name=op.f("fk_setting_values_updated_by_identities"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_setting_values")),
    )


def downgrade() -> None:
    op.drop_table("setting_values")
