"""checkout

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:23:47.309951
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    outlets = op.create_table('outlets',
    sa.Column('id', ID, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outlets')),
    sa.UniqueConstraint('name', name=op.f('uq_outlets_name'))
    )
    # Every shop has at least one outlet; chat checkouts of staff without one go there.
    op.bulk_insert(outlets, [{"name": "Main", "created_at": datetime.now(UTC)}])
    op.create_table('pos_keys',
    sa.Column('id', ID, nullable=False),
    sa.Column('outlet_id', ID, nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlets.id'], name=op.f('fk_pos_keys_outlet_id_outlets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pos_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_pos_keys_key_hash'))
    )
    op.create_table('purchases',
    sa.Column('id', ID, nullable=False),
    sa.Column('outlet_id', ID, nullable=False),
    sa.Column('receipt_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', ID, nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('points_spent', sa.Integer(), nullable=False),
    sa.Column('points_earned', sa.Integer(), nullable=False),
    sa.Column('refunded_amount', sa.BigInteger(), nullable=False),
    sa.Column('points_returned', sa.Integer(), nullable=False),
    sa.Column('points_reversed', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('tier_after', sa.String(length=32), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('actor_identity_id', ID, nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_identity_id'], ['identities.id'], name=op.f('fk_purchases_actor_identity_id_identities'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_purchases_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlets.id'], name=op.f('fk_purchases_outlet_id_outlets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
    sa.UniqueConstraint('outlet_id', 'receipt_id', name=op.f('uq_purchases_outlet_id'))
    )
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_customer_occurred', ['customer_id', 'occurred_at'], unique=False)

    op.create_table('refunds',
    sa.Column('id', ID, nullable=False),
    sa.Column('purchase_id', ID, nullable=False),
    sa.Column('refund_key', sa.String(length=64), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('points_returned', sa.Integer(), nullable=False),
    sa.Column('points_reversed', sa.Integer(), nullable=False),
    sa.Column('actor_identity_id', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_identity_id'], ['identities.id'], name=op.f('fk_refunds_actor_identity_id_identities'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_refunds_purchase_id_purchases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('purchase_id', 'refund_key', name=op.f('uq_refunds_purchase_id'))
    )
    op.create_table('reviews',
    sa.Column('id', ID, nullable=False),
    sa.Column('purchase_id', ID, nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_reviews_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchases.id'], name=op.f('fk_reviews_purchase_id_purchases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
    sa.UniqueConstraint('purchase_id', name=op.f('uq_reviews_purchase_id'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('total_spent', sa.BigInteger(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('heard_from', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('profile_completed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('referral_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('referred_by', ID, nullable=True))
        batch_op.add_column(sa.Column('referral_rewarded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_customers_referral_code'), ['referral_code'])
        batch_op.create_foreign_key(batch_op.f('fk_customers_referred_by_customers'), 'customers', ['referred_by'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('point_operations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purchase_id', ID, nullable=True))
        batch_op.add_column(sa.Column('actor_identity_id', ID, nullable=True))
        batch_op.create_index(batch_op.f('ix_point_operations_purchase_id'), ['purchase_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_point_operations_purchase_id_purchases'), 'purchases', ['purchase_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_point_operations_actor_identity_id_identities'), 'identities', ['actor_identity_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outlet_id', ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_staff_outlet_id_outlets'), 'outlets', ['outlet_id'], ['id'], ondelete='SET NULL')

    op.create_table('erased_phones',
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone_hash', name=op.f('pk_erased_phones'))
    )
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'points', sa.text('amount > 0 AND remaining >= 0 AND remaining <= amount'))
    with op.batch_alter_table('staff_invites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outlet_id', ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_staff_invites_outlet_id_outlets'), 'outlets', ['outlet_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('staff_invites', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_staff_invites_outlet_id_outlets'), type_='foreignkey')
        batch_op.drop_column('outlet_id')
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_point_lots_points'), type_='check')
    op.drop_table('erased_phones')

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_staff_outlet_id_outlets'), type_='foreignkey')
        batch_op.drop_column('outlet_id')

    with op.batch_alter_table('point_operations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_point_operations_actor_identity_id_identities'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_point_operations_purchase_id_purchases'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_point_operations_purchase_id'))
        batch_op.drop_column('actor_identity_id')
        batch_op.drop_column('purchase_id')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customers_referred_by_customers'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_customers_referral_code'), type_='unique')
        batch_op.drop_column('referral_rewarded_at')
        batch_op.drop_column('referred_by')
        batch_op.drop_column('referral_code')
        batch_op.drop_column('profile_completed_at')
        batch_op.drop_column('heard_from')
        batch_op.drop_column('email')
        batch_op.drop_column('total_spent')

    op.drop_table('reviews')
    op.drop_table('refunds')
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_customer_occurred')

    op.drop_table('purchases')
    op.drop_table('pos_keys')
    op.drop_table('outlets')
