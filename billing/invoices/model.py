"""Invoices, their lines and payments, and the invoice state machine.

draft -> awaiting_payment -> paid        (issue, then payments)
draft -> deleted                         (a draft that was never issued)
awaiting_payment -> voided               (only while nothing is paid)
paid -> awaiting_payment                 (a payment was refunded or deleted in Xero)
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import ZERO, Base, Money, UnitPrice, UTCDateTime, trigram_indexes, utcnow
from billing.errors import IllegalTransition
from billing.tax import LineAmountType


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    VOIDED = "voided"
    DELETED = "deleted"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.DELETED}),
    InvoiceStatus.AWAITING_PAYMENT: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOIDED}),
    InvoiceStatus.PAID: frozenset({InvoiceStatus.AWAITING_PAYMENT}),
    InvoiceStatus.VOIDED: frozenset(),
    InvoiceStatus.DELETED: frozenset(),
}

_STATUS_SQL = ", ".join(f"'{s.value}'" for s in InvoiceStatus)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
        CheckConstraint("line_amount_type IN ('Exclusive', 'Inclusive', 'NoTax')", name="lat"),
        CheckConstraint("total >= 0 AND subtotal >= 0 AND total_tax >= 0", name="totals_positive"),
        CheckConstraint("amount_paid >= 0 AND amount_paid <= total", name="paid_within_total"),
        CheckConstraint("due_date >= issue_date", name="due_after_issue"),
        # Issued invoices always carry a number; drafts get one when they are issued.
        CheckConstraint("status IN ('draft', 'deleted') OR number IS NOT NULL", name="numbered"),
        # A customer's lists by status and due date, and what it owes read from the index
        # alone (statements.balance).
        Index(
            "ix_invoices_customer_status",
            "customer_id",
            "status",
            "due_date",
            "currency",
            "total",
            "amount_paid",
        ),
        # The admin list's order (newest first) and its keyset pages; read backwards.
        Index("ix_invoices_created", "created_at", "id"),
        # The dashboard's totals of drafts and invoices awaiting payment, read from the index
        # alone (every column they sum or filter on is in it), not from the table's rows.
        Index(
            "ix_invoices_owed",
            "status",
            "currency",
            "due_date",
            "customer_id",
            "total",
            "amount_paid",
        ),
        *trigram_indexes("invoices", "number", "reference"),
        # SQLite's stand-in for them: the invoice search still reads every invoice, but from
        # this index's two short columns instead of the table's rows.
        Index("ix_invoices_text", "number", "reference").ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Assigned from the numbering sequence at issue; unique across the portal.
    number: Mapped[str | None] = mapped_column(String(50), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(20), default=InvoiceStatus.DRAFT)
    currency: Mapped[str] = mapped_column(String(3))
    line_amount_type: Mapped[str] = mapped_column(String(10), default=LineAmountType.EXCLUSIVE)
    reference: Mapped[str] = mapped_column(String(255), default="")
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    #: When the customer said they would pay (Xero's ExpectedPaymentDate); optional.
    expected_payment_date: Mapped[date | None] = mapped_column(Date)
    #: Excludes tax for every line amount type; total = subtotal + total_tax.
    subtotal: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    total_tax: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    total: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    #: Sum of the payments recorded against the invoice, less refunds and reversals;
    #: recomputed from the payments whenever one changes.
    amount_paid: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    #: Bumped whenever the amount due changes: a card payment's idempotency key includes it,
    #: so two tabs paying the same amount due charge once, and a later balance is new.
    payment_revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    customer = relationship("Customer", back_populates="invoices", lazy="joined")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        order_by="InvoiceLine.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", order_by="Payment.paid_on", lazy="selectin"
    )

    @hybrid_property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def state(self) -> InvoiceStatus:
        return InvoiceStatus(self.status)

    @property
    def display_number(self) -> str:
        return self.number or f"Draft {self.id}"

    def is_overdue(self, today: date) -> bool:
        return self.state is InvoiceStatus.AWAITING_PAYMENT and self.due_date < today

    def move_to(self, new: InvoiceStatus) -> bool:
        """Apply one transition. Asking for the state it already has is a no-op (False)."""
        current = self.state
        if new is current:
            return False
        if new not in TRANSITIONS[current]:
            raise IllegalTransition(current.label.lower(), new.label.lower())
        self.status = new
        return True


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("line_amount >= 0 AND tax_amount >= 0", name="amounts_not_negative"),
        # Every invoice page, the Xero push and the ledger check read one invoice's lines.
        Index("ix_invoice_lines_invoice", "invoice_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    position: Mapped[int]
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4, asdecimal=True))
    unit_price: Mapped[Decimal] = mapped_column(UnitPrice())
    #: Copied from the service when the line is written, so later edits to the service
    #: never change an issued invoice.
    account_code: Mapped[str] = mapped_column(String(10))
    tax_rate_id: Mapped[int] = mapped_column(ForeignKey("tax_rates.id"))
    tax_rate_percent: Mapped[Decimal] = mapped_column(Numeric(7, 4, asdecimal=True))
    #: Quantity x unit price rounded to cents (tax included on tax-inclusive invoices).
    line_amount: Mapped[Decimal] = mapped_column(Money())
    tax_amount: Mapped[Decimal] = mapped_column(Money())

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    service = relationship("Service", lazy="joined")
    tax_rate = relationship("TaxRate", lazy="joined")


class PaymentSource(enum.StrEnum):
    #: Taken by the portal (card), then written to Xero.
    PORTAL = "portal"
    #: Made in Xero (online invoice "Pay now", bank reconciliation, manual), read back.
    XERO = "xero"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount", name="refund_range"),
        CheckConstraint("source IN ('portal', 'xero')", name="source_known"),
        # Money received is a range of payment dates, summed from the index alone.
        Index(
            "ix_payments_received",
            "paid_on",
            "currency",
            "reversed_at",
            "amount",
            "amount_refunded",
            "invoice_id",
        ),
        # Xero's payment ids are matched whatever their case (every payment a webhook or
        # the poller reads is looked up by it).
        Index("ix_payments_xero_payment_id_lower", func.lower(text("xero_payment_id"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    #: How the money came in: card (portal), xero (online invoice / bank), manual.
    method: Mapped[str] = mapped_column(String(20))
    #: The gateway's or bank's transaction reference, shown on receipts and sent to Xero.
    reference: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(10), default=PaymentSource.PORTAL)
    #: The gateway's id of the payment (a Stripe PaymentIntent); one payment per id.
    gateway_payment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: The gateway's id of the money movement (a Stripe charge), for refunds and receipts.
    gateway_charge_id: Mapped[str | None] = mapped_column(String(255))
    #: Xero's PaymentID once the payment is in Xero (written by the portal or read from it).
    xero_payment_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    #: Refunded so far; only ever grows (a late, older refund event changes nothing).
    amount_refunded: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    #: Set when the payment was deleted in Xero or otherwise taken back whole.
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Money taken for an invoice already paid: kept apart from the invoice's amount paid
    #: until an admin refunds it or keeps it as credit (billing/payments/overpayments.py).
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")

    @property
    def net_amount(self) -> Decimal:
        """What this payment still contributes to the invoice (nothing while held)."""
        if self.held:
            return ZERO
        return self.money_kept

    @property
    def money_kept(self) -> Decimal:
        """What the payer has not been given back, applied to the invoice or held."""
        if self.reversed_at is not None:
            return ZERO
        return self.amount - self.amount_refunded
