"""card payments and payment sync settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 22:01:46.420067
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_card', sa.Boolean(), nullable=False),
    sa.Column('offer_xero_online', sa.Boolean(), nullable=False),
    sa.Column('xero_only_with_link', sa.Boolean(), nullable=False),
    sa.Column('stripe_publishable_key', sa.String(length=255), nullable=False),
    sa.Column('stripe_secret_key_encrypted', sa.Text(), nullable=False),
    sa.Column('stripe_webhook_secret_encrypted', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_settings'))
    )
    op.create_table('card_payment_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('gateway_payment_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('failure_message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_card_payment_attempts_amount_positive')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_card_payment_attempts_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_card_payment_attempts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_payment_attempts')),
    sa.UniqueConstraint('gateway_payment_id', name=op.f('uq_card_payment_attempts_gateway_payment_id')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_card_payment_attempts_idempotency_key'))
    )
    with op.batch_alter_table('card_payment_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_payment_attempts_invoice_id'), ['invoice_id'], unique=False)

    with op.batch_alter_table('xero_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_payments_out', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('sync_payments_in', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('last_pulled_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('xero_settings', schema=None) as batch_op:
        batch_op.drop_column('last_pulled_at')
        batch_op.drop_column('sync_payments_in')
        batch_op.drop_column('sync_payments_out')

    with op.batch_alter_table('card_payment_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_payment_attempts_invoice_id'))

    op.drop_table('card_payment_attempts')
    op.drop_table('payment_settings')
