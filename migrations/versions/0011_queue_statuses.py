"""queue statuses: the outbox's and the inbox's statuses checked by the database

Revision ID: 0011
Revises: 0010
"""

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('xero_sync_jobs', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'status_known',
            "status IN ('pending', 'running', 'done', 'needs_attention', 'ignored')",
        )
    with op.batch_alter_table('inbound_events', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'status_known', "status IN ('pending', 'running', 'done', 'failed')"
        )


def downgrade() -> None:
    with op.batch_alter_table('inbound_events', schema=None) as batch_op:
        batch_op.drop_constraint('status_known', type_='check')
    with op.batch_alter_table('xero_sync_jobs', schema=None) as batch_op:
        batch_op.drop_constraint('status_known', type_='check')
