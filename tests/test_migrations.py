"""The schema comes from Alembic migrations only: they build it from empty on the database
under test, match the models exactly, and roll all the way back."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import xero.models  # noqa: F401 - the Xero tables are part of the schema too
from billing.models import Base
from portal import migrations
from portal.db import make_engine


# SQLite's reflection cannot read lower(...) indexes; Alembic then leaves them out of the
# comparison (PostgreSQL's pass compares them).
def built_on(dialect: str):
    """Alembic compares every index of the models, but some are for one database only
    (``ddl_if``: PostgreSQL's trigram indexes); those are left out elsewhere."""

    def include(obj, name, type_, reflected, compare_to) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_upgrade_from_empty_matches_the_models(fresh_database_url):
    url = fresh_database_url("migrations")
    engine = make_engine(url)
    try:
        migrations.upgrade(url)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "include_object": built_on(connection.dialect.name)},
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], f"models and migrations disagree: {differences}"

        migrations.downgrade(url, "base")
        leftover = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert leftover == set()

        migrations.upgrade(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_plans_are_added_to_a_service_library_already_invoiced(fresh_database_url):
    """0018 adds a plan's terms to services that invoice lines already reference (on SQLite
    a rebuilt table would fail the foreign keys): they stay one-off, with the default terms,
    and the new CHECKs hold."""
    from sqlalchemy import text

    url = fresh_database_url("plans_on_data")
    engine = make_engine(url)
    try:
        migrations.upgrade(url, "0017")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tax_rates (id, name, rate_percent, active) "
                    "VALUES (1, 'Standard', 20, true)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO services (id, code, name, description, unit_price, currency, "
                    "sales_account_code, tax_rate_id, active, created_at) VALUES (1, 'DESK', "
                    "'Desk', '', 100, 'GBP', '200', 1, true, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO customers (id, name, contact_name, email, phone, address, "
                    "payment_terms_days, is_test, created_at) VALUES (1, 'Acme', '', '', '', "
                    "'', 14, false, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO invoices (id, customer_id, status, currency, line_amount_type, "
                    "reference, issue_date, due_date, subtotal, total_tax, total, amount_paid, "
                    "created_at, updated_at) VALUES (1, 1, 'draft', 'GBP', 'Exclusive', '', "
                    "'2026-11-01', '2026-11-15', 100, 20, 120, 0, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO invoice_lines (invoice_id, position, service_id, description, "
                    "quantity, unit_price, account_code, tax_rate_id, tax_rate_percent, "
                    "line_amount, tax_amount) VALUES (1, 1, 1, 'Desk', 1, 100, '200', 1, 20, "
                    "100, 20)"
                )
            )
        migrations.upgrade(url)
        with engine.begin() as connection:
            row = connection.execute(
                text(
                    "SELECT cycle, timing, prorate_start, prorate_end, minimum_term_periods, "
                    "notice_days FROM services WHERE id = 1"
                )
            ).one()
            assert tuple(row) == (None, "advance", "by_day", "by_day", 0, 0)
        with pytest.raises(Exception, match="(?i)check"), engine.begin() as connection:
            connection.execute(text("UPDATE services SET cycle = 'daily' WHERE id = 1"))
        # The index that makes codes unique whatever their case is still there.
        with pytest.raises(Exception, match="(?i)unique"), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO services (code, name, description, unit_price, currency, "
                    "sales_account_code, tax_rate_id, active, created_at) VALUES ('desk', "
                    "'Desk 2', '', 100, 'GBP', '200', 1, true, CURRENT_TIMESTAMP)"
                )
            )
        migrations.downgrade(url, "0017")
        assert "cycle" not in {c["name"] for c in inspect(engine).get_columns("services")}
    finally:
        engine.dispose()
