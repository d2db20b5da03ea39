"""The ledger check finds every way the portal and Xero can disagree, and only those."""

from datetime import date
from decimal import Decimal

from billing.invoices.model import Invoice
from billing.payments.operations import record_payment
from tests.conftest import make_test_app
from xero.admin.ledger_check import check_ledgers


def check(env):
    with env.Session() as db:
        return check_ledgers(db, env.service.api(db))


def synced(env, count=2):
    customer_id = env.add_customer(name="Acme")
    ids = [env.issue(customer_id) for _ in range(count)]
    env.worker().drain()
    return ids


def test_agreeing_ledgers(env):
    synced(env, 3)
    result = check(env)
    assert result.checked == 3
    assert result.ok, result.mismatches


def test_a_payment_only_in_xero_is_a_mismatch(env):
    synced(env, 1)
    [x] = env.xero_invoices()
    x.amount_paid = Decimal("10.00")  # as if paid in Xero and not (yet) read back
    result = check(env)
    assert {m.what for m in result.mismatches} >= {"amount paid", "amount due"}


def test_a_portal_payment_missing_in_xero_is_a_mismatch(env):
    [invoice_id] = synced(env, 1)
    with env.Session() as db, db.begin():
        invoice = db.get(Invoice, invoice_id)
        record_payment(
            db,
            invoice,
            amount=invoice.total,
            paid_on=date.today(),
            method="card",
            reference="ch_1",
        )
    mismatches = check(env).mismatches
    assert {m.what for m in mismatches} == {
        "status",
        "amount paid",
        "amount due",
        "payments (amount, reference)",
    }
    assert any("ch_1" in m.portal for m in mismatches)


def test_an_invoice_missing_from_xero(env):
    synced(env, 1)
    env.org.invoices.clear()
    [mismatch] = check(env).mismatches
    assert mismatch.what == "presence"


def test_cli_exit_code(env):
    synced(env, 1)
    app = make_test_app(
        env.database_url,
        ENCRYPTION_KEY=env.fernet_key,
        XERO_BASE_URL=env.served.url,
        XERO_CLIENT_ID=env.client.client_id,
        XERO_CLIENT_SECRET=env.client.client_secret,
    )
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["billing", "reconcile", "--check"])
    assert ok.exit_code == 0, ok.output
    assert "1 synced invoices checked, 0 mismatches." in ok.output

    [x] = env.xero_invoices()
    x.status = "VOIDED"
    bad = runner.invoke(args=["billing", "reconcile", "--check"])
    assert bad.exit_code == 1
    assert "status is awaiting" not in bad.output
    assert "status is AUTHORISED in the portal, VOIDED in Xero" in bad.output


def test_portal_books_that_disagree_with_their_own_payments_fail_the_check(env):
    """A lost update (amount paid not the sum of the payments) fails the check even where
    Xero happens to agree with the portal's wrong figure."""
    [invoice_id] = synced(env, 1)
    with env.Session() as db, db.begin():
        db.get(Invoice, invoice_id).amount_paid = Decimal("10.00")
    [x] = env.xero_invoices()
    x.amount_paid = Decimal("10.00")  # the sandbox derives its amount due from this
    result = check(env)
    assert not result.ok
    [violation] = result.portal_violations
    assert violation.invoice_id == invoice_id
    assert "live payments add up to 0.00" in str(violation)
