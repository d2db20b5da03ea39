"""Run Alembic from code: ``flask db upgrade`` / ``downgrade`` and the tests use this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from portal.resources import resource_dir

MIGRATIONS_DIR = resource_dir("migrations")


def alembic_config(url: str | None = None, connection=None) -> Config:
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
    _run(command.upgrade, url, revision, connection)


def downgrade(url: str | None = None, revision: str = "-1", connection=None) -> None:
    _run(command.downgrade, url, revision, connection)


def current(url: str) -> None:
    command.current(alembic_config(url), verbose=True)
