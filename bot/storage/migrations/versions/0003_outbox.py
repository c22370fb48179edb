"""outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', ID, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('identity_id', ID, nullable=True),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'blocked')",
                       name=op.f('ck_outbox_status')),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'],
                            name=op.f('fk_outbox_identity_id_identities'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    op.create_index('ix_outbox_due', 'outbox', ['status', 'not_before'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_table('outbox')
