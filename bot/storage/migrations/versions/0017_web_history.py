"""the web chat's conversation kept on the server, and the outbox status "waiting": a
message for a web visitor with no page open, kept until they come back

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'cancelled')"
NEW_STATUSES = ("status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'cancelled', "
                "'waiting')")


def _statuses(check: str) -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), sa.text(check))


def upgrade() -> None:
    _statuses(NEW_STATUSES)
    op.create_table(
        "web_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("identity_id", ID, nullable=False),
        sa.Column("author", sa.String(length=8), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"],
                                name=op.f("fk_web_messages_identity_id_identities"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_messages")),
    )
    op.create_index("ix_web_messages_identity", "web_messages", ["identity_id", "id"])
    op.create_index("ix_web_messages_created", "web_messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_web_messages_created", table_name="web_messages")
    op.drop_index("ix_web_messages_identity", table_name="web_messages")
    op.drop_table("web_messages")
    op.execute("UPDATE outbox SET status = 'sent' WHERE status = 'waiting'")
    _statuses(OLD_STATUSES)
