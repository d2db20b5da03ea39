"""What issuing an invoice costs the database: the same statements whatever its number of
lines, and no object read twice: nine, where it was fifteen with the invoice read three
times (it is now locked and read once; issue_invoice's own lock finds it already held)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.factories import CustomerFactory, ServiceFactory, make_invoice


def statements_of(db, request) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, *rest) -> None:
        # SAVEPOINTs are the test harness's (its session runs inside one transaction).
        if "SAVEPOINT" not in statement:
            seen.append(" ".join(statement.split()))

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        request()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("lines", [1, 6])
def test_issuing_runs_nine_statements_whatever_the_lines(db, admin_client, lines):
    customer = CustomerFactory()
    desk, room = ServiceFactory(currency="GBP"), ServiceFactory(currency="GBP")
    # One invoice issued first: the numbering sequence exists, as it does after the first.
    make_invoice(db, customer, lines=[(desk, "1")])
    draft = make_invoice(
        db, customer, lines=[(desk if n % 2 else room, "1") for n in range(lines)], issue=False
    )
    admin_client.get("/admin/")  # signed in and loaded before counting
    db.expunge_all()  # a request starts with nothing loaded

    seen = statements_of(db, lambda: admin_client.post_form(f"/admin/invoices/{draft.id}/issue"))
    from_invoices = [s for s in seen if s.startswith("SELECT invoices.")]
    assert len(from_invoices) == 1, seen  # locked and read once
    assert len([s for s in seen if "FROM invoice_lines" in s]) == 1, seen
    # Who is signed in; the lock (invoice, its lines, its payments); the connected
    # organisation (the Xero line check); the number; the status; the sync job (is one
    # queued? queue it).
    assert len(seen) == 9, "\n".join(seen)
