"""names ignore case: tax-rate names and service codes unique whatever their case

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

UNIQUE = (
    ('uq_tax_rates_name_lower', 'tax_rates', 'name', 'tax rate names'),
    ('uq_services_code_lower', 'services', 'code', 'service codes'),
)


def upgrade() -> None:
    connection = op.get_bind()
    for index, table, column, what in UNIQUE:
        # Refuse rather than rename: an admin should choose which of two clashing names
        # changes (a service code is on invoices and in Xero).
        clashes = connection.execute(
            sa.text(
                f'SELECT lower({column}) AS key, COUNT(*) FROM {table} '
                f'GROUP BY lower({column}) HAVING COUNT(*) > 1'
            )
        ).fetchall()
        if clashes:
            keys = ', '.join(repr(row[0]) for row in clashes[:10])
            raise RuntimeError(
                f'Cannot make {what} unique whatever their case: these differ only in case: '
                f'{keys}. Rename one of each in the admin pages, then run the upgrade again.'
            )
        op.create_index(index, table, [sa.text(f'lower({column})')], unique=True)


def downgrade() -> None:
    for index, table, _, _ in reversed(UNIQUE):
        op.drop_index(index, table_name=table)
