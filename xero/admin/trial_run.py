"""Trying the whole chain on a dummy customer before members use it: a clearly marked test
customer gets a small invoice (numbered with its own prefix, TEST_INVOICE_PREFIX, and left
out of the admin's lists and totals), and a checklist follows it through Xero and back.
Cleaning up is ``xero.sync.trial_cleanup``'s process; this module shows where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.customers import Customer, CustomerDetails, create_customer
from billing.invoices.model import Invoice, InvoiceStatus, PaymentSource
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.services import get_invoiceable_service
from billing.tax import LineAmountType
from xero.api.tokens import active_connection
from xero.models import ConnectionStatus, JobStatus, XeroInvoiceLink
from xero.sync.trial_cleanup import card_payments, cleanup_job, cleanup_of, request_clean_up

TEST_CUSTOMER_NAME = "Test customer (portal check)"
TEST_LEDGER_CODE = "PORTAL-TEST"


def trial_customer(db: Session, email: str = "") -> Customer:
    """The one dummy customer, created on first use and reused after."""
    customer = db.scalar(select(Customer).where(Customer.is_test.is_(True)).limit(1))
    if customer is None:
        customer = create_customer(
            db, CustomerDetails(name=TEST_CUSTOMER_NAME, email=email, ledger_code=TEST_LEDGER_CODE)
        )
        customer.is_test = True
        db.flush()
    return customer


def send_test_invoice(db: Session, service_id: int, *, prefix: str, today: date) -> Invoice:
    service = get_invoiceable_service(db, service_id)
    customer = trial_customer(db)
    draft = create_draft(
        db,
        DraftDetails(
            customer_id=customer.id,
            currency=service.currency,
            line_amount_type=LineAmountType.EXCLUSIVE,
            issue_date=today,
            reference="Portal check: safe to ignore",
            lines=[DraftLine(service.id, f"Test: {service.name}", Decimal(1), service.unit_price)],
        ),
    )
    return issue_invoice(db, draft, prefix=prefix, today=today)


@dataclass(frozen=True)
class Step:
    label: str
    done: bool


def checklist(db: Session, invoice: Invoice) -> list[Step]:
    link = db.get(XeroInvoiceLink, invoice.id)
    xero_status = link.xero_status if link else ""
    live = [p for p in invoice.payments if p.net_amount > 0]
    return [
        Step("In Xero as Awaiting Payment", xero_status in ("AUTHORISED", "PAID")),
        Step("Online invoice link ready", bool(link and link.online_invoice_url)),
        Step("Paid", invoice.state is InvoiceStatus.PAID or xero_status == "PAID"),
        Step(
            "Payment back in the portal",
            any(p.source == PaymentSource.XERO for p in live) or invoice.amount_paid > 0,
        ),
        Step("Payment recorded in Xero", bool(live) and all(p.xero_payment_id for p in live)),
    ]


def trial_invoices(db: Session) -> list[Invoice]:
    return list(
        db.scalars(
            select(Invoice)
            .join(Invoice.customer)
            .where(Customer.is_test.is_(True), Invoice.status != InvoiceStatus.DELETED)
            .order_by(Invoice.id.desc())
        )
    )


def to_clean_up(db: Session) -> list[Invoice]:
    """Test invoices still standing and not yet being cleaned up."""
    return [
        invoice
        for invoice in trial_invoices(db)
        if invoice.state is not InvoiceStatus.VOIDED and cleanup_of(db, invoice.id) is None
    ]


def clean_up(db: Session, *, requested_by_id: int | None = None) -> list[Invoice]:
    """Start taking back what the trial made (``xero.sync.trial_cleanup``): records the clean-up
    of each test invoice and its job; the worker does the rest. Returns those started."""
    return request_clean_up(db, to_clean_up(db), requested_by_id=requested_by_id)


@dataclass(frozen=True)
class CleanupProgress:
    steps: list[Step]
    #: Why the last attempt failed ("" when none did).
    problem: str
    #: The job stopped: an admin must retry it from the sync log.
    needs_attention: bool

    @property
    def done(self) -> bool:
        return all(step.done for step in self.steps)


def cleanup_progress(db: Session, invoice: Invoice) -> CleanupProgress | None:
    """Where the invoice's clean-up stands, step by step (None when none was asked for)."""
    cleanup = cleanup_of(db, invoice.id)
    if cleanup is None:
        return None
    cards = card_payments(invoice)
    refund_label = (
        f"Card payment{'s' if len(cards) > 1 else ''} refunded in Stripe"
        if cards
        else "Refund in Stripe: none needed, no card payment was taken"
    )
    steps = [
        Step(refund_label, cleanup.refunded_at is not None),
        Step("Payments deleted in Xero", cleanup.xero_payments_deleted_at is not None),
        Step("Voided in Xero", cleanup.xero_voided_at is not None),
        Step("Voided here", cleanup.finished_at is not None),
    ]
    job = cleanup_job(db, invoice.id)
    problem = ""
    needs_attention = False
    if job is not None and cleanup.finished_at is None:
        problem = job.last_error
        needs_attention = job.status == JobStatus.NEEDS_ATTENTION
        connection = active_connection(db)
        if not problem and (connection is None or connection.status != ConnectionStatus.ACTIVE):
            # The worker takes no Xero job while paused: say so rather than spin.
            problem = "Waiting for the Xero connection: connect Xero and it goes on."
    return CleanupProgress(steps, problem, needs_attention)
