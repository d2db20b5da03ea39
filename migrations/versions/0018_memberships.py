"""memberships: services can be plans (a cycle, billed in advance or arrears, proration of
a start and an end, minimum term, notice), customers hold memberships of them, and each
period a billing run charged is kept under a unique key (membership, period start), which
makes the run idempotent

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op


revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

#: The plan's terms: (column, its type and default, its CHECK's name and condition).
PLAN_COLUMNS = (
    (
        "cycle",
        "VARCHAR(10)",
        "cycle_known",
        "cycle IS NULL OR cycle IN ('weekly', 'monthly', 'quarterly', 'yearly')",
    ),
    (
        "timing",
        "VARCHAR(10) NOT NULL DEFAULT 'advance'",
        "timing_known",
        "timing IN ('advance', 'arrears')",
    ),
    (
        "prorate_start",
        "VARCHAR(10) NOT NULL DEFAULT 'by_day'",
        "prorate_start_known",
        "prorate_start IN ('none', 'by_day')",
    ),
    (
        "prorate_end",
        "VARCHAR(10) NOT NULL DEFAULT 'by_day'",
        "prorate_end_known",
        "prorate_end IN ('none', 'by_day')",
    ),
    (
        "minimum_term_periods",
        "INTEGER NOT NULL DEFAULT 0",
        "minimum_term_not_negative",
        "minimum_term_periods >= 0",
    ),
    ("notice_days", "INTEGER NOT NULL DEFAULT 0", "notice_not_negative", "notice_days >= 0"),
)


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("price", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("end_override_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "discount_percent IS NULL OR (discount_percent >= 0 AND discount_percent <= 100)",
            name=op.f("ck_memberships_discount_percent"),
        ),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_memberships_ends_after_start")
        ),
        sa.CheckConstraint(
            "price IS NULL OR price >= 0", name=op.f("ck_memberships_price_not_negative")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_memberships_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_memberships_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_memberships_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
    )
    op.create_index("ix_memberships_customer", "memberships", ["customer_id", "starts_on"])
    op.create_index("ix_memberships_service_id", "memberships", ["service_id"])

    op.create_table(
        "membership_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("covered_start", sa.Date(), nullable=False),
        sa.Column("covered_end", sa.Date(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("line_position", sa.Integer(), nullable=False),
        sa.Column("billing_date", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "covered_start >= period_start AND covered_end <= period_end AND covered_end > covered_start",
            name=op.f("ck_membership_charges_covered_within_period"),
        ),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_membership_charges_period_forward")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_membership_charges_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_membership_charges_membership_id_memberships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_charges")),
        sa.UniqueConstraint("membership_id", "period_start", name="membership_period"),
    )
    op.create_index("ix_membership_charges_invoice_id", "membership_charges", ["invoice_id"])

    # Existing services are one-off. Columns are added in place, their CHECKs with them:
    # SQLite's batch mode would rebuild the table, which invoice lines and memberships
    # reference (foreign keys are on), and lose its index on lower(code).
    for column, definition, check, condition in PLAN_COLUMNS:
        op.execute(
            f"ALTER TABLE services ADD COLUMN {column} {definition} "
            f"CONSTRAINT ck_services_{check} CHECK ({condition})"
        )


def downgrade() -> None:
    for column, *_ in reversed(PLAN_COLUMNS):
        # Its CHECK goes with it (SQLite 3.35 and newer: a CHECK on that column alone).
        op.execute(f"ALTER TABLE services DROP COLUMN {column}")
    op.drop_index("ix_membership_charges_invoice_id", table_name="membership_charges")
    op.drop_table("membership_charges")
    op.drop_index("ix_memberships_service_id", table_name="memberships")
    op.drop_index("ix_memberships_customer", table_name="memberships")
    op.drop_table("memberships")
