"""The demo's data has plans with memberships and a pending charge, which a billing run
invoices."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete

from billing.recurring.run import preview
from billing.users import User
from portal.demo import seed_demo

TODAY = date(2026, 11, 17)


def test_the_demo_has_memberships_and_a_charge_for_the_billing_run(db):
    db.execute(delete(User))  # the demo seeds only a database without logins
    assert seed_demo(db, today=TODAY)
    shown = preview(db, TODAY)
    lines = {bill.customer.name: [line.description for line in bill.lines] for bill in shown.bills}
    assert lines == {
        # From today to the end of the month: 14 of 30 days.
        "Brightdesk Studio Ltd": [
            "Resident desk, 17 Nov 2026 to 30 Nov 2026 (14 of 30 days) - Desks 4 and 5",
            "Meeting room (hour), board meeting, 16 Nov 2026",
        ],
        # Started 20 days ago, on 28 October: 4 days of October, then November.
        "Northwind Apps LLP": [
            "Mail handling (month), 28 Oct 2026 to 31 Oct 2026 (4 of 31 days)",
            "Mail handling (month), 1 Nov 2026 to 30 Nov 2026",
        ],
    }
