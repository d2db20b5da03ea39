"""names ignore case: tax-rate names and service codes unique whatever their case; stored
webhook events lose their secrets (client_secret), as new ones are stored without them

Revision ID: 0013
Revises: 0012
"""

import json

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


    _scrub_stored_events(connection)


#: As billing.inbox.SECRET_FIELDS when this migration was written (a migration must not
#: change meaning when the code does).
SECRET_FIELDS = frozenset({'client_secret', 'secret'})


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _scrub_stored_events(connection) -> None:
    rows = connection.execute(
        sa.text("SELECT id, payload FROM inbound_events WHERE payload LIKE '%secret%'")
    ).fetchall()
    for row_id, payload in rows:
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        connection.execute(
            sa.text('UPDATE inbound_events SET payload = :payload WHERE id = :id'),
            {'payload': json.dumps(_scrub(data), separators=(',', ':')), 'id': row_id},
        )


def downgrade() -> None:
    # The secrets removed from stored events are not brought back (nothing needs them).
    for index, table, _, _ in reversed(UNIQUE):
        op.drop_index(index, table_name=table)
