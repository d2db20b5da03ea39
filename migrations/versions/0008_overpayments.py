"""overpayments: money taken for an invoice already paid, held for an admin's decision

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.create_table(
        "overpayments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("refund_payment_id", sa.Integer(), nullable=True),
        sa.Column("xero_overpayment_id", sa.String(length=36), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_overpayments_amount_positive")),
        sa.CheckConstraint(
            "status IN ('open', 'refunding', 'refunded', 'crediting', 'kept_as_credit', 'applied')",
            name=op.f("ck_overpayments_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_overpayments_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_overpayments_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_overpayments_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["refund_payment_id"],
            ["payments.id"],
            name=op.f("fk_overpayments_refund_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overpayments")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_overpayments_payment_id")),
    )
    with op.batch_alter_table("overpayments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_overpayments_invoice_id"), ["invoice_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("overpayments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_overpayments_invoice_id"))
    op.drop_table("overpayments")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("held")
