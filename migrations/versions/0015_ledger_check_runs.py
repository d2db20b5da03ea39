"""ledger check runs: the ledger check carried out in the background, its progress and
findings kept

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ledger_check_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=True),
        sa.Column('started_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('checked', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.Integer(), nullable=False),
        sa.Column('contact_cursor', sa.Integer(), nullable=False),
        sa.Column('contact_page', sa.Integer(), nullable=False),
        sa.Column('invoices_done', sa.Boolean(), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')",
            name=op.f('ck_ledger_check_runs_status_known'),
        ),
        sa.CheckConstraint(
            'checked >= 0 AND total >= 0', name=op.f('ck_ledger_check_runs_counts_not_negative')
        ),
        sa.ForeignKeyConstraint(
            ['started_by_id'], ['users.id'], name=op.f('fk_ledger_check_runs_started_by_id_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_check_runs')),
        sa.UniqueConstraint('active', name=op.f('uq_ledger_check_runs_active')),
    )
    op.create_table(
        'ledger_check_findings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=True),
        sa.Column('invoice_number', sa.String(length=255), nullable=False),
        sa.Column('what', sa.Text(), nullable=False),
        sa.Column('portal', sa.Text(), nullable=False),
        sa.Column('xero', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ['run_id'],
            ['ledger_check_runs.id'],
            name=op.f('fk_ledger_check_findings_run_id_ledger_check_runs'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_check_findings')),
    )
    op.create_index(
        op.f('ix_ledger_check_findings_run_id'), 'ledger_check_findings', ['run_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_ledger_check_findings_run_id'), table_name='ledger_check_findings')
    op.drop_table('ledger_check_findings')
    op.drop_table('ledger_check_runs')
