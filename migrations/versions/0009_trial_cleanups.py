"""trial cleanups

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trial_cleanups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('xero_payments_deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('xero_voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_trial_cleanups_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_trial_cleanups_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trial_cleanups')),
    sa.UniqueConstraint('invoice_id', name=op.f('uq_trial_cleanups_invoice_id'))
    )


def downgrade() -> None:
    op.drop_table('trial_cleanups')
