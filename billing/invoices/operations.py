"""Operations on invoices. They flush and never commit: the caller owns the transaction.

Each one that changes an invoice's money or state locks the row first and decides on what
the lock re-read (``billing.invoices.locking``): a double-clicked Issue numbers the invoice once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from billing import events
from billing.customers import get_customer
from billing.db import utcnow
from billing.errors import (
    BillingError,
    CurrencyMismatch,
    IllegalTransition,
    InvalidAmount,
    InvoiceNotEditable,
    NotFound,
)
from billing.invoices.locking import lock_invoice
from billing.invoices.model import Invoice, InvoiceLine, InvoiceStatus
from billing.invoices.numbering import next_invoice_number
from billing.money import MAX_AMOUNT, MAX_QUANTITY, check_currency
from billing.services import get_invoiceable_service
from billing.tax import LineAmountType, LineTotals, invoice_totals, line_totals

MAX_LINES = 100


@dataclass(frozen=True)
class DraftLine:
    service_id: int
    description: str
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class DraftDetails:
    customer_id: int
    currency: str
    line_amount_type: LineAmountType
    issue_date: date
    lines: Sequence[DraftLine]
    due_date: date | None = None
    expected_payment_date: date | None = None
    reference: str = ""


def _check_dates(issue: date, due: date, expected: date | None) -> None:
    if due < issue:
        raise BillingError("The due date cannot be before the invoice date.")
    if expected is not None and expected < issue:
        raise BillingError("The expected payment date cannot be before the invoice date.")


def _build_lines(db: Session, details: DraftDetails) -> list[InvoiceLine]:
    if not details.lines:
        raise BillingError("An invoice needs at least one line.")
    if len(details.lines) > MAX_LINES:
        raise BillingError(f"An invoice can have at most {MAX_LINES} lines.")
    amounts = LineAmountType(details.line_amount_type)
    lines = []
    for position, draft in enumerate(details.lines, start=1):
        if draft.quantity <= 0 or draft.quantity > MAX_QUANTITY:
            raise InvalidAmount(f"Line {position}: quantity must be above 0 and sane.")
        if draft.unit_price < 0 or draft.unit_price > MAX_AMOUNT:
            raise InvalidAmount(f"Line {position}: unit price must be 0 or more and sane.")
        if not draft.description.strip():
            raise BillingError(f"Line {position}: a description is required.")
        service = get_invoiceable_service(db, draft.service_id)
        if service.currency != details.currency:
            raise CurrencyMismatch(
                f"Line {position}: {service.name} is priced in {service.currency}, "
                f"the invoice is in {details.currency}."
            )
        totals = line_totals(
            draft.quantity, draft.unit_price, service.tax_rate.rate_percent, amounts
        )
        if totals.line_amount > MAX_AMOUNT:
            raise InvalidAmount(f"Line {position}: the line amount is larger than accepted.")
        lines.append(
            InvoiceLine(
                position=position,
                service_id=service.id,
                description=draft.description.strip(),
                quantity=draft.quantity,
                unit_price=draft.unit_price,
                account_code=service.sales_account_code,
                tax_rate_id=service.tax_rate_id,
                tax_rate_percent=service.tax_rate.rate_percent,
                line_amount=totals.line_amount,
                tax_amount=totals.tax_amount,
            )
        )
    return lines


def _apply(db: Session, invoice: Invoice, details: DraftDetails) -> None:
    customer = get_customer(db, details.customer_id)
    currency = check_currency(details.currency)
    try:
        due = details.due_date or details.issue_date + timedelta(days=customer.payment_terms_days)
    except OverflowError:  # an invoice date near 9999-12-31
        raise BillingError("The due date is out of range.") from None
    _check_dates(details.issue_date, due, details.expected_payment_date)
    lines = _build_lines(db, details)
    totals = invoice_totals(
        [LineTotals(line.line_amount, line.tax_amount) for line in lines],
        LineAmountType(details.line_amount_type),
    )
    if totals.total > MAX_AMOUNT:
        raise InvalidAmount("The invoice total is larger than the portal accepts.")
    invoice.customer_id = customer.id
    invoice.currency = currency
    invoice.line_amount_type = LineAmountType(details.line_amount_type)
    invoice.issue_date = details.issue_date
    invoice.due_date = due
    invoice.expected_payment_date = details.expected_payment_date
    invoice.reference = details.reference.strip()
    invoice.lines = lines
    invoice.subtotal, invoice.total_tax, invoice.total = (
        totals.subtotal,
        totals.total_tax,
        totals.total,
    )


def create_draft(db: Session, details: DraftDetails) -> Invoice:
    invoice = Invoice(status=InvoiceStatus.DRAFT)
    _apply(db, invoice, details)
    db.add(invoice)
    db.flush()
    return invoice


def update_draft(db: Session, invoice: Invoice, details: DraftDetails) -> Invoice:
    invoice = lock_invoice(db, invoice.id)
    if invoice.state is not InvoiceStatus.DRAFT:
        raise InvoiceNotEditable("Only drafts can have their lines and customer changed.")
    _apply(db, invoice, details)
    db.flush()
    return invoice


def update_issued(
    db: Session,
    invoice: Invoice,
    *,
    reference: str,
    due_date: date,
    expected_payment_date: date | None,
) -> Invoice:
    """What may change on an awaiting-payment invoice: reference and dates, not money."""
    invoice = lock_invoice(db, invoice.id)
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT:
        raise InvoiceNotEditable("Only awaiting-payment invoices can be changed this way.")
    _check_dates(invoice.issue_date, due_date, expected_payment_date)
    invoice.reference = reference.strip()
    invoice.due_date = due_date
    invoice.expected_payment_date = expected_payment_date
    db.flush()
    events.publish(db, events.INVOICE_UPDATED, invoice=invoice)
    return invoice


def issue_invoice(db: Session, invoice: Invoice, *, prefix: str, today: date) -> Invoice:
    """Draft -> awaiting payment, with the next invoice number. Issuing twice is a no-op."""
    invoice = lock_invoice(db, invoice.id)
    if invoice.state in (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID):
        return invoice  # already issued (and maybe paid since): never a second number
    if invoice.state is not InvoiceStatus.DRAFT:
        # TRANSITIONS allows paid -> awaiting payment (a refund), which must not renumber.
        raise IllegalTransition(invoice.state.label.lower(), "awaiting payment")
    if not invoice.lines or invoice.total <= 0:
        raise BillingError("An invoice needs lines with a total above zero to be issued.")
    for line in invoice.lines:
        if not line.service.active:
            raise BillingError(
                f"{line.service.name} has been archived since this draft was written."
            )
    # Number first: the CHECK constraint wants every issued invoice numbered at each flush.
    invoice.number = next_invoice_number(db, prefix)
    invoice.move_to(InvoiceStatus.AWAITING_PAYMENT)
    invoice.issued_at = utcnow()
    if invoice.issue_date is None:
        invoice.issue_date = today
    db.flush()
    events.publish(db, events.INVOICE_ISSUED, invoice=invoice)
    return invoice


def void_invoice(db: Session, invoice: Invoice) -> Invoice:
    invoice = lock_invoice(db, invoice.id)
    if invoice.state is InvoiceStatus.AWAITING_PAYMENT and any(
        p.net_amount > 0 for p in invoice.payments
    ):
        raise InvoiceNotEditable("An invoice with payments cannot be voided.")
    if invoice.move_to(InvoiceStatus.VOIDED):
        db.flush()
        events.publish(db, events.INVOICE_VOIDED, invoice=invoice)
    return invoice


def delete_draft(db: Session, invoice: Invoice) -> Invoice:
    invoice = lock_invoice(db, invoice.id)
    if invoice.move_to(InvoiceStatus.DELETED):
        db.flush()
        events.publish(db, events.INVOICE_DELETED, invoice=invoice)
    return invoice


def get_invoice(db: Session, invoice_id: int) -> Invoice:
    invoice = db.get(Invoice, invoice_id)
    if invoice is None or invoice.state is InvoiceStatus.DELETED:
        raise NotFound("No such invoice.")
    return invoice
