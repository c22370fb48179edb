"""WhatsApp messages the program started, by platform id: a failure reported later by a
status webhook sends the outbox message again as its template

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "whatsapp_sends",
        sa.Column("wamid", sa.String(length=128), nullable=False),
        sa.Column("outbox_message_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox.id"],
                                name=op.f("fk_whatsapp_sends_outbox_message_id_outbox"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("wamid", name=op.f("pk_whatsapp_sends")),
    )
    op.create_index(op.f("ix_whatsapp_sends_outbox_message_id"), "whatsapp_sends",
                    ["outbox_message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_whatsapp_sends_outbox_message_id"), table_name="whatsapp_sends")
    op.drop_table("whatsapp_sends")
