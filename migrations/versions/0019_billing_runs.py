"""billing runs: the billing run carried out in the background, its progress and the
customers it could not bill kept

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'billing_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('billing_date', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=True),
        sa.Column('scheduled_for', sa.Date(), nullable=True),
        sa.Column('started_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('invoices', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_token', sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done')", name=op.f('ck_billing_runs_status_known')
        ),
        sa.CheckConstraint(
            'total >= 0 AND done >= 0 AND invoices >= 0 AND failed >= 0',
            name=op.f('ck_billing_runs_counts_not_negative'),
        ),
        sa.ForeignKeyConstraint(
            ['started_by_id'], ['users.id'], name=op.f('fk_billing_runs_started_by_id_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_runs')),
        sa.UniqueConstraint('active', name=op.f('uq_billing_runs_active')),
        sa.UniqueConstraint('scheduled_for', name=op.f('uq_billing_runs_scheduled_for')),
    )
    op.create_table(
        'billing_run_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ['customer_id'],
            ['customers.id'],
            name=op.f('fk_billing_run_failures_customer_id_customers'),
        ),
        sa.ForeignKeyConstraint(
            ['run_id'], ['billing_runs.id'], name=op.f('fk_billing_run_failures_run_id_billing_runs')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_run_failures')),
    )
    op.create_index(
        op.f('ix_billing_run_failures_run_id'), 'billing_run_failures', ['run_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_billing_run_failures_run_id'), table_name='billing_run_failures')
    op.drop_table('billing_run_failures')
    op.drop_table('billing_runs')
