"""list indexes: what the admin lists, invoice pages, dashboard and reports read at 20,000
invoices (lines by invoice, invoices newest first and by status, payments by date, sync jobs
by status), and trigram indexes for the invoice search on PostgreSQL

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_invoice_lines_invoice', 'invoice_lines', ['invoice_id', 'position']),
    ('ix_invoices_created', 'invoices', ['created_at', 'id']),
    ('ix_invoices_status', 'invoices', ['status', 'currency']),
    ('ix_payments_paid_on', 'payments', ['paid_on']),
    ('ix_xero_sync_jobs_status_id', 'xero_sync_jobs', ['status', 'id']),
)
#: PostgreSQL only: text found anywhere in these columns (ILIKE '%...%') through pg_trgm.
TRIGRAM = (
    ('ix_invoices_number_trgm', 'invoices', 'number'),
    ('ix_invoices_reference_trgm', 'invoices', 'reference'),
    ('ix_customers_name_trgm', 'customers', 'name'),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == 'postgresql':
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for name, table, column in TRIGRAM:
            op.create_index(
                name,
                table,
                [column],
                postgresql_using='gin',
                postgresql_ops={column: 'gin_trgm_ops'},
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, _ in TRIGRAM:
            op.drop_index(name, table_name=table)
        # The extension stays: other databases' objects on this server may use it.
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
