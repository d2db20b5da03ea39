"""Trying the whole chain on a dummy customer before members use it: a clearly marked test
customer gets a small invoice, and a checklist follows it through Xero and back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.customers import Customer, CustomerDetails, create_customer
from billing.invoices import Invoice, InvoiceStatus, PaymentSource
from billing.invoicing import DraftDetails, DraftLine, create_draft, issue_invoice, void_invoice
from billing.payments import reverse_payment
from billing.services import get_invoiceable_service
from billing.tax import LineAmountType
from xero.models import XeroInvoiceLink

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


def clean_up(db: Session) -> int:
    """Take back what the trial made: payments reversed and invoices voided, in Xero too
    (through the outbox). Returns how many invoices it voided."""
    voided = 0
    for invoice in trial_invoices(db):
        if invoice.state is InvoiceStatus.VOIDED:
            continue
        for payment in invoice.payments:
            reverse_payment(db, payment)
        void_invoice(db, invoice)
        voided += 1
    return voided
