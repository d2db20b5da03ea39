"""covering indexes for the dashboard and money received: their sums read the index alone
(at 20,000 invoices and 10,000 payments, each row read from the table cost more than the
page); they replace the narrower indexes of 0014 that they extend. And the test customers
they leave out, found without reading every customer; on SQLite, the invoice search's
columns in an index of their own (PostgreSQL has trigram indexes for them)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

#: (new index, its columns, the index it replaces, that one's columns)
REPLACED = (
    (
        'ix_invoices_owed',
        'invoices',
        ['status', 'currency', 'due_date', 'customer_id', 'total', 'amount_paid'],
        'ix_invoices_status',
        ['status', 'currency'],
    ),
    (
        'ix_payments_received',
        'payments',
        ['paid_on', 'currency', 'reversed_at', 'amount', 'amount_refunded', 'invoice_id'],
        'ix_payments_paid_on',
        ['paid_on'],
    ),
)


def upgrade() -> None:
    for name, table, columns, old, _ in REPLACED:
        op.create_index(name, table, columns)
        op.drop_index(old, table_name=table)
    # Partial: a plain index on is_test turns SQLite's plan for the admin list around.
    op.create_index(
        'ix_customers_test',
        'customers',
        ['id'],
        sqlite_where=sa.text('is_test = 1'),
        postgresql_where=sa.text('is_test'),
    )
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_invoices_text', 'invoices', ['number', 'reference'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_invoices_text', table_name='invoices')
    op.drop_index('ix_customers_test', table_name='customers')
    for name, table, _, old, old_columns in REPLACED:
        op.create_index(old, table, old_columns)
        op.drop_index(name, table_name=table)
