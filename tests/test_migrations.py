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
