"""payments from both sides

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:59:18.740249
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_revision', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=10), nullable=False, server_default='portal'))
        batch_op.add_column(sa.Column('gateway_payment_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('gateway_charge_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('xero_payment_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('amount_refunded', sa.Numeric(precision=14, scale=2), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payments_gateway_payment_id'), ['gateway_payment_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_payments_xero_payment_id'), ['xero_payment_id'])
        batch_op.create_check_constraint(
            'refund_range', 'amount_refunded >= 0 AND amount_refunded <= amount'
        )
        batch_op.create_check_constraint('source_known', "source IN ('portal', 'xero')")


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('source_known', type_='check')
        batch_op.drop_constraint('refund_range', type_='check')
        batch_op.drop_constraint(batch_op.f('uq_payments_xero_payment_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_payments_gateway_payment_id'), type_='unique')
        batch_op.drop_column('reversed_at')
        batch_op.drop_column('amount_refunded')
        batch_op.drop_column('xero_payment_id')
        batch_op.drop_column('gateway_charge_id')
        batch_op.drop_column('gateway_payment_id')
        batch_op.drop_column('source')

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('payment_revision')

