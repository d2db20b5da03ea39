"""card attempt limits: SetupIntents counted per member

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_setup_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_card_setup_requests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_setup_requests")),
    )
    with op.batch_alter_table("card_setup_requests", schema=None) as batch_op:
        batch_op.create_index("ix_card_setup_requests_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("card_setup_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_card_setup_requests_user_at")

    op.drop_table("card_setup_requests")
