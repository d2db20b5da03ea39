"""billing.db.outside_transaction: the one way to end a transaction mid-operation."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from billing.db import outside_transaction
from billing.login_throttle import LoginFailure


def test_what_was_flushed_stands_and_objects_stay_loaded(engine):
    with Session(engine, expire_on_commit=False) as db:
        failure = LoginFailure(email="outside@example.com", address="here")
        db.add(failure)
        db.flush()
        outside_transaction(db)
        assert not db.in_transaction()  # nothing is held while the network answers
        assert failure.email == "outside@example.com"  # no reload needed
        assert not db.in_transaction()
        db.add(LoginFailure(email="after@example.com", address="here"))
        db.flush()
        db.rollback()  # what follows may fail: only it is lost
    try:
        with Session(engine) as other:
            emails = set(
                other.scalars(select(LoginFailure.email).where(LoginFailure.address == "here"))
            )
        assert emails == {"outside@example.com"}
    finally:
        with Session(engine) as other, other.begin():
            other.execute(delete(LoginFailure).where(LoginFailure.address == "here"))
