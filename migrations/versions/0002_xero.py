"""xero connection, settings, outbox, audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:38:36.657022
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('xero_rate_limits',
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('minute_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minute_calls', sa.Integer(), nullable=False),
    sa.Column('day_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day_calls', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_xero_rate_limits'))
    )
    op.create_table('xero_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('base_currency', sa.String(length=3), nullable=False),
    sa.Column('default_sales_account', sa.String(length=10), nullable=False),
    sa.Column('payments_account', sa.String(length=10), nullable=False),
    sa.Column('branding_theme_id', sa.String(length=36), nullable=False),
    sa.Column('branding_theme_has_payment_service', sa.Boolean(), nullable=False),
    sa.Column('sync_client_names', sa.Boolean(), nullable=False),
    sa.Column('after_push', sa.String(length=12), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xero_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_xero_settings_tenant_id'))
    )
    op.create_table('xero_sync_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome_unknown', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_xero_sync_jobs_attempts_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xero_sync_jobs'))
    )
    with op.batch_alter_table('xero_sync_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_xero_sync_jobs_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_xero_sync_jobs_object', ['kind', 'object_id'], unique=False)

    op.create_table('xero_sync_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['xero_sync_jobs.id'], name=op.f('fk_xero_sync_attempts_job_id_xero_sync_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xero_sync_attempts'))
    )
    with op.batch_alter_table('xero_sync_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_xero_sync_attempts_job_id'), ['job_id'], unique=False)

    op.create_table('xero_tax_rate_mappings',
    sa.Column('tax_rate_id', sa.Integer(), nullable=False),
    sa.Column('tax_type', sa.String(length=50), nullable=False),
    sa.ForeignKeyConstraint(['tax_rate_id'], ['tax_rates.id'], name=op.f('fk_xero_tax_rate_mappings_tax_rate_id_tax_rates')),
    sa.PrimaryKeyConstraint('tax_rate_id', name=op.f('pk_xero_tax_rate_mappings'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('xero_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_name', sa.String(length=255), nullable=False),
    sa.Column('connection_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('access_token_encrypted', sa.Text(), nullable=True),
    sa.Column('refresh_token_encrypted', sa.Text(), nullable=True),
    sa.Column('access_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_token_issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('connected_by_id', sa.Integer(), nullable=True),
    sa.Column('connected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['connected_by_id'], ['users.id'], name=op.f('fk_xero_connections_connected_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xero_connections'))
    )
    op.create_table('xero_invoice_links',
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('xero_invoice_id', sa.String(length=36), nullable=True),
    sa.Column('online_invoice_url', sa.Text(), nullable=False),
    sa.Column('xero_status', sa.String(length=12), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_xero_invoice_links_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_xero_invoice_links')),
    sa.UniqueConstraint('xero_invoice_id', name=op.f('uq_xero_invoice_links_xero_invoice_id'))
    )


def downgrade() -> None:
    op.drop_table('xero_invoice_links')
    op.drop_table('xero_connections')
    op.drop_table('audit_log')
    op.drop_table('xero_tax_rate_mappings')
    with op.batch_alter_table('xero_sync_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_xero_sync_attempts_job_id'))

    op.drop_table('xero_sync_attempts')
    with op.batch_alter_table('xero_sync_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_xero_sync_jobs_object')
        batch_op.drop_index('ix_xero_sync_jobs_due')

    op.drop_table('xero_sync_jobs')
    op.drop_table('xero_settings')
    op.drop_table('xero_rate_limits')
