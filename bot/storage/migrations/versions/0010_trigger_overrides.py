"""trigger overrides: the owner switches triggers on or off and edits their texts in the chat

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trigger_overrides",
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["identities.id"],
                                name=op.f("fk_trigger_overrides_updated_by_identities"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("trigger", name=op.f("pk_trigger_overrides")),
    )


def downgrade() -> None:
    op.drop_table("trigger_overrides")
