"""broadcasts: the owner's messages to a segment, one recipient row per customer; the
outbox learns the status "cancelled" (a stopped broadcast's messages that were waiting)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'blocked')"
NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'cancelled')"


def _outbox_status(length: int, check: str) -> None:
    """Widen or narrow ``outbox.status`` and replace its CHECK constraint. SQLite rebuilds
    the table (batch mode); with foreign keys on, dropping the old table sets the links of
    ``trigger_sends`` to NULL, so they are kept aside and put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE _trigger_send_links AS SELECT id, outbox_message_id "
                   "FROM trigger_sends WHERE outbox_message_id IS NOT NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.alter_column("status", existing_type=sa.String(), type_=sa.String(length=length),
                           existing_nullable=False)
        batch.create_check_constraint(op.f("ck_outbox_status"), sa.text(check))
    if sqlite:
        op.execute("UPDATE trigger_sends SET outbox_message_id = (SELECT l.outbox_message_id "
                   "FROM _trigger_send_links l WHERE l.id = trigger_sends.id) "
                   "WHERE id IN (SELECT id FROM _trigger_send_links)")
        op.execute("DROP TABLE _trigger_send_links")


def upgrade() -> None:
    _outbox_status(16, NEW_STATUSES)
    op.create_table(
        "broadcasts",
        sa.Column("id", ID, nullable=False),
        sa.Column("author_identity_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("button_label", sa.String(length=64), nullable=True),
        sa.Column("button_url", sa.String(length=512), nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported", sa.JSON(), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'sending', 'done', 'cancelled')",
                           name=op.f("ck_broadcasts_status")),
        sa.ForeignKeyConstraint(["author_identity_id"], ["identities.id"],
                                name=op.f("fk_broadcasts_author_identity_id_identities"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index("ix_broadcasts_status", "broadcasts", ["status"], unique=False)
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", ID, nullable=False),
        sa.Column("broadcast_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("outbox_message_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcasts.id"],
                                name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_broadcast_recipients_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox.id"],
                                name=op.f("fk_broadcast_recipients_outbox_message_id_outbox"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("broadcast_id", "customer_id",
                            name=op.f("uq_broadcast_recipients_broadcast_id")),
    )


def downgrade() -> None:
    op.drop_table("broadcast_recipients")
    op.drop_index("ix_broadcasts_status", table_name="broadcasts")
    op.drop_table("broadcasts")
    op.execute("UPDATE outbox SET status = 'failed', error = 'cancelled' WHERE status = 'cancelled'")
    _outbox_status(8, OLD_STATUSES)
