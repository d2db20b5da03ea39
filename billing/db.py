"""The declarative base shared by every model, the column types money needs, and the one
transaction rule.

The transaction rule: operations (services, handlers, views) flush and never commit. A
transaction ends only where a unit of work ends, and each of those places owns its commit:

- the request boundary (``portal.db``): a request's writes are committed when it ends,
  unless an exception escaped its view or the view called ``portal.db.rollback_request()``;
- a CLI command (``portal.cli``), at its end;
- a job runner, once per job or batch, with the job's outcome (the outbox worker, the
  inbox, the Xero event batching that claims other inbox events, and the ledger check's
  runner, once per chunk with the run's progress);
- token rotation (``xero.api.tokens``): a refresh token Xero rotated is saved at once, whatever
  becomes of the work that needed it.

Anything that must end the transaction in the middle of a unit of work, so that no row
lock (and on SQLite no write lock) is held while a network call is answered, or so that
what was done so far stands whatever happens next, calls ``outside_transaction(db)``.
``.ci/check_commits`` fails the build on a ``commit()`` anywhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ColumnElement, DateTime, Index, MetaData, Numeric, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

#: Constraint names are fixed so that Alembic migrations can name what they alter or drop
#: identically on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def Money() -> Numeric[Decimal]:  # noqa: N802 - reads like a type in column declarations
    """Line amounts, tax and totals: 2 decimal places, never float."""
    return Numeric(14, 2, asdecimal=True)


def UnitPrice() -> Numeric[Decimal]:  # noqa: N802
    """Unit prices keep up to 4 places, as Xero does with ``unitdp=4``."""
    return Numeric(14, 4, asdecimal=True)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC datetime is required")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def trigram_indexes(table: str, *columns: str) -> list[Index]:
    """PostgreSQL trigram (pg_trgm) indexes, so that a search for text anywhere in these
    columns (``ILIKE '%...%'``) reads an index instead of every row. SQLite has no such
    index and gets none (a B-tree cannot serve a match in the middle of a value)."""
    return [
        Index(
            f"ix_{table}_{column}_trgm",
            column,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql")
        for column in columns
    ]


class ContainsText(ColumnElement[bool]):
    """``column`` holds ``text`` anywhere, case aside, with ``text`` matched literally (LIKE's
    wildcards escaped): ILIKE on PostgreSQL, as its trigram indexes serve. On SQLite plain
    LIKE, which already ignores case for ASCII letters only, exactly as SQLite's lower()
    does, so it matches the same rows as ``lower(column) LIKE lower(text)`` while being
    about three times cheaper per row (the search reads every invoice there).

    Both forms are built here as ordinary expressions, so their bound values are part of the
    statement's cache key; the compiler renders one of them."""

    inherit_cache = True
    type = Boolean()
    # A predicate already: SQLite gets no "= 1" after it.
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("insensitive", InternalTraversal.dp_clauseelement),
        ("ascii_folding", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: QueryableAttribute[Any], text: str):
        self.insensitive = column.icontains(text, autoescape=True)
        self.ascii_folding = column.contains(text, autoescape=True)


@compiles(ContainsText)
def _contains_text(element: ContainsText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.insensitive, **kw)


@compiles(ContainsText, "sqlite")
def _contains_text_sqlite(element: ContainsText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.ascii_folding, **kw)


def utcnow() -> datetime:
    return datetime.now(UTC)


ZERO = Decimal("0.00")


def outside_transaction(db: Session) -> None:
    """End the session's transaction before a network call (or a step that may fail).

    What was flushed so far is committed and stands whatever happens next; objects stay
    loaded (sessions are made with ``expire_on_commit=False``) and the next statement
    begins a new transaction. No row lock is held while Xero or Stripe answers, and on
    SQLite the write lock is free for the rate limiter's own transaction.
    """
    db.commit()
