"""pending charges: one-off charges for a customer waiting for its next invoice from the
billing run, and the files of them imported (each once)

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_charges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('charged_on', sa.Date(), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=True),
        sa.Column('line_position', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_pending_charges_quantity_positive')),
        sa.CheckConstraint(
            'unit_price IS NULL OR unit_price >= 0',
            name=op.f('ck_pending_charges_price_not_negative'),
        ),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['users.id'], name=op.f('fk_pending_charges_created_by_id_users')
        ),
        sa.ForeignKeyConstraint(
            ['customer_id'], ['customers.id'], name=op.f('fk_pending_charges_customer_id_customers')
        ),
        sa.ForeignKeyConstraint(
            ['invoice_id'], ['invoices.id'], name=op.f('fk_pending_charges_invoice_id_invoices')
        ),
        sa.ForeignKeyConstraint(
            ['service_id'], ['services.id'], name=op.f('fk_pending_charges_service_id_services')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_charges')),
    )
    op.create_index(
        'ix_pending_charges_customer',
        'pending_charges',
        ['customer_id', 'invoice_id', 'charged_on'],
        unique=False,
    )
    op.create_index(
        op.f('ix_pending_charges_invoice_id'), 'pending_charges', ['invoice_id'], unique=False
    )
    op.create_index(
        op.f('ix_pending_charges_service_id'), 'pending_charges', ['service_id'], unique=False
    )


    op.create_table(
        'charge_imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('charges', sa.Integer(), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_imports')),
        sa.UniqueConstraint('sha256', name=op.f('uq_charge_imports_sha256')),
    )


def downgrade() -> None:
    op.drop_table('charge_imports')
    op.drop_index(op.f('ix_pending_charges_service_id'), table_name='pending_charges')
    op.drop_index(op.f('ix_pending_charges_invoice_id'), table_name='pending_charges')
    op.drop_index('ix_pending_charges_customer', table_name='pending_charges')
    op.drop_table('pending_charges')
