"""Run Alembic from code: ``flask db upgrade`` / ``downgrade`` and the tests use this."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal.resources import resource_dir

# Alembic (with Mako and Pygments) takes a quarter of a second to import: only the
# commands that migrate need it, not every process that builds the app.
if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = resource_dir("migrations")


def alembic_config(url: str | None = None, connection=None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser treats % as interpolation; URLs may contain escaped characters.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run(operation, url: str | None, revision: str, connection) -> None:
    if connection is not None:
        operation(alembic_config(connection=connection), revision)
        return
    from portal.db import make_engine

    if url is None:
        raise ValueError("a database URL or a connection is needed")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            operation(alembic_config(connection=connection), revision)
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head", connection=None) -> None:
    from alembic import command

    _run(command.upgrade, url, revision, connection)


def downgrade(url: str | None = None, revision: str = "-1", connection=None) -> None:
    from alembic import command

    _run(command.downgrade, url, revision, connection)


def current(url: str) -> None:
    from alembic import command

    command.current(alembic_config(url), verbose=True)
