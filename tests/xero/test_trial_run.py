"""The dummy-customer check: a test invoice goes to Xero, and the checklist follows it."""

from datetime import date

import pytest

from billing.invoices import Invoice, InvoiceStatus, PaymentSource
from billing.payments import record_payment
from tests.xero.sync_env import SyncEnv
from xero.trial_run import checklist, clean_up, send_test_invoice, trial_customer


@pytest.fixture
def env(sandbox, fresh_database_url):
    env = SyncEnv(sandbox, fresh_database_url("trial"))
    yield env
    env.close()


def steps(env, invoice_id):
    with env.Session() as db:
        return [step.done for step in checklist(db, db.get(Invoice, invoice_id))]


def test_trial_run_from_issue_to_clean_up(env):
    with env.Session() as db, db.begin():
        invoice = send_test_invoice(db, env.desk_id, prefix="INV-", today=date.today())
        invoice_id = invoice.id
        again = trial_customer(db)
        assert again.id == invoice.customer_id and again.is_test
    assert steps(env, invoice_id) == [False] * 5

    env.worker().drain()
    assert steps(env, invoice_id) == [True, True, False, False, False]
    [x] = env.xero_invoices()
    assert x.status == "AUTHORISED" and x.reference.startswith("Portal check")

    with env.Session() as db, db.begin():  # as if paid in Xero and read back
        invoice = db.get(Invoice, invoice_id)
        record_payment(
            db,
            invoice,
            amount=invoice.total,
            paid_on=date.today(),
            method="xero",
            source=PaymentSource.XERO,
            xero_payment_id="0f0e0d0c-0000-4000-8000-000000000001",
        )
    assert steps(env, invoice_id) == [True, True, True, True, True]

    with env.Session() as db, db.begin():
        assert clean_up(db) == 1
    with env.Session() as db:
        invoice = db.get(Invoice, invoice_id)
        assert invoice.state is InvoiceStatus.VOIDED
        assert invoice.amount_paid == 0
    env.worker().drain()
    assert env.xero_invoices()[0].status == "VOIDED"
