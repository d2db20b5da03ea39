"""ledger snapshot: the organisation's accounts and tax rates, for checking services

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('xero_ledger_snapshots',
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('accounts_json', sa.Text(), nullable=False),
    sa.Column('tax_rates_json', sa.Text(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_xero_ledger_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('xero_ledger_snapshots')
