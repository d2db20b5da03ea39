"""rolling rate limit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 22:31:39.505860
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('xero_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xero_calls'))
    )
    with op.batch_alter_table('xero_calls', schema=None) as batch_op:
        batch_op.create_index('ix_xero_calls_tenant_at', ['tenant_id', 'at'], unique=False)

    with op.batch_alter_table('xero_rate_limits', schema=None) as batch_op:
        batch_op.drop_column('minute_calls')
        batch_op.drop_column('minute_started_at')
        batch_op.drop_column('day_started_at')
        batch_op.drop_column('day_calls')



def downgrade() -> None:
    with op.batch_alter_table('xero_rate_limits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('day_calls', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('day_started_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
        batch_op.add_column(sa.Column('minute_started_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
        batch_op.add_column(sa.Column('minute_calls', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('xero_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_xero_calls_tenant_at')

    op.drop_table('xero_calls')
