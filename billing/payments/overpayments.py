"""Money that came in for an invoice already paid: a member paid twice from two sides (card
in the portal, and Xero's online invoice "Pay now"), or two card tabs raced.

The money exists, so it is recorded, never refused: the second payment is kept as a payment
that is *held* (``Payment.held``), counted apart from the invoice's amount paid (which never
exceeds the total), with one ``Overpayment`` saying what an admin must decide:

- refund the card payment (``billing.payments.overpayment_refund``), after which both books hold one
  payment; when the refunded card payment was the applied one, the held payment takes its
  place (``settle``);
- or keep the extra as the customer's credit, recorded in Xero as an overpayment on the
  contact (the ``xero`` package's outbox does that on ``OVERPAYMENT_KEPT``).

Every change here runs under the invoice's lock (``billing.invoices.locking``), taken by the caller.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from billing import events
from billing.db import Base, Money, UTCDateTime, utcnow
from billing.errors import BillingError, NotFound
from billing.invoices.locking import lock_invoice
from billing.invoices.model import Invoice, InvoiceStatus, Payment


class OverpaymentStatus(enum.StrEnum):
    #: Waiting for an admin's decision.
    OPEN = "open"
    #: The admin chose a refund; the gateway has not confirmed it yet.
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    #: The admin chose to keep it as credit; Xero has not recorded it yet.
    CREDITING = "crediting"
    KEPT_AS_CREDIT = "kept_as_credit"
    #: The held payment now pays the invoice: the other one was taken back (deleted in Xero).
    APPLIED = "applied"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


#: An admin still has something to do (or to wait for) on these.
UNSETTLED = (OverpaymentStatus.OPEN, OverpaymentStatus.REFUNDING, OverpaymentStatus.CREDITING)
_STATUS_SQL = ", ".join(f"'{s.value}'" for s in OverpaymentStatus)


class OverpaymentSettled(BillingError):
    """A decision asked for on an overpayment that already has one."""


class Overpayment(Base):
    """One held payment and what becomes of it."""

    __tablename__ = "overpayments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: The payment held when the overpayment was found (one overpayment per payment).
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    #: The extra money: the held payment's amount when it was found.
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=OverpaymentStatus.OPEN)
    #: The card payment the admin chose to refund (the held one, or the applied one).
    refund_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    #: Xero's OverpaymentID once the credit is recorded there.
    xero_overpayment_id: Mapped[str | None] = mapped_column(String(36))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    invoice: Mapped[Invoice] = relationship(lazy="joined")
    payment: Mapped[Payment] = relationship(foreign_keys=[payment_id], lazy="joined")
    refund_payment: Mapped[Payment | None] = relationship(foreign_keys=[refund_payment_id])
    decided_by = relationship("User")

    @property
    def state(self) -> OverpaymentStatus:
        return OverpaymentStatus(self.status)

    @property
    def settled(self) -> bool:
        return self.state not in UNSETTLED

    def other_payments(self) -> list[Payment]:
        """The invoice's applied payments that stand: what the held one came on top of."""
        return [
            p
            for p in self.invoice.payments
            if p.id != self.payment_id and not p.held and p.money_kept > 0
        ]

    def card_payment(self) -> Payment | None:
        """The card payment a refund gives back: the held one when it is a card payment,
        else the applied card payment it doubled."""
        for p in [self.payment, *self.other_payments()]:
            if p.gateway_payment_id and p.money_kept > 0:
                return p
        return None


def hold(db: Session, payment: Payment) -> Overpayment:
    """Keep ``payment`` apart from its invoice's amount paid, for an admin to decide.
    The caller holds the invoice's lock and recomputes the invoice."""
    payment.held = True
    found = db.scalar(select(Overpayment).where(Overpayment.payment_id == payment.id))
    if found is not None:
        found.status = OverpaymentStatus.OPEN
        found.resolved_at = None
        return found
    overpayment = Overpayment(
        invoice=payment.invoice,
        payment=payment,
        amount=payment.money_kept,
        currency=payment.currency,
        status=OverpaymentStatus.OPEN,
    )
    db.add(overpayment)
    return overpayment


def settle(db: Session, invoice: Invoice) -> bool:
    """After a refund or a reversal on ``invoice`` (locked): a held payment that was refunded
    in full is done with; one that now fits the amount due pays the invoice in place of the
    payment taken back. Returns whether a held payment was applied (recompute again)."""
    applied = False
    for overpayment in db.scalars(
        select(Overpayment).where(
            Overpayment.invoice_id == invoice.id, Overpayment.status.in_(UNSETTLED)
        )
    ):
        held = overpayment.payment
        if not held.held:
            continue
        if held.money_kept == 0:
            _resolve(overpayment, OverpaymentStatus.REFUNDED)
        elif invoice.state is InvoiceStatus.AWAITING_PAYMENT and held.money_kept <= (
            invoice.amount_due
        ):
            held.held = False
            invoice.amount_paid += held.money_kept
            applied = True
            refunded = overpayment.state is OverpaymentStatus.REFUNDING
            _resolve(
                overpayment, OverpaymentStatus.REFUNDED if refunded else OverpaymentStatus.APPLIED
            )
            events.publish(db, events.PAYMENT_CHANGED, payment=held)
    return applied


def _resolve(overpayment: Overpayment, status: OverpaymentStatus) -> None:
    overpayment.status = status
    overpayment.resolved_at = utcnow()


# -- what admins and members see -----------------------------------------------------------


def unsettled_count(db: Session) -> int:
    return (
        db.scalar(
            select(func.count()).select_from(Overpayment).where(Overpayment.status.in_(UNSETTLED))
        )
        or 0
    )


def needing_attention(
    db: Session, *, recent: int = 20
) -> tuple[list[Overpayment], list[Overpayment]]:
    """Unsettled overpayments, oldest first, and the most recently settled ones."""
    unsettled = list(
        db.scalars(
            select(Overpayment)
            .where(Overpayment.status.in_(UNSETTLED))
            .order_by(Overpayment.created_at, Overpayment.id)
        )
    )
    settled = list(
        db.scalars(
            select(Overpayment)
            .where(Overpayment.status.not_in(UNSETTLED))
            .order_by(Overpayment.resolved_at.desc(), Overpayment.id.desc())
            .limit(recent)
        )
    )
    return unsettled, settled


def of_invoice(db: Session, invoice_id: int) -> list[Overpayment]:
    return list(
        db.scalars(
            select(Overpayment).where(Overpayment.invoice_id == invoice_id).order_by(Overpayment.id)
        )
    )


def get_overpayment(db: Session, overpayment_id: int) -> Overpayment:
    found = db.get(Overpayment, overpayment_id)
    if found is None:
        raise NotFound("No such overpayment.")
    return found


# -- the admin's decisions -----------------------------------------------------------------


def _locked(db: Session, overpayment_id: int) -> Overpayment:
    """The overpayment re-read under its invoice's lock."""
    invoice_id = get_overpayment(db, overpayment_id).invoice_id
    lock_invoice(db, invoice_id)
    found = db.scalar(
        select(Overpayment)
        .where(Overpayment.id == overpayment_id)
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


def decide_refund(db: Session, overpayment_id: int, user_id: int | None) -> Overpayment:
    """Choose a refund of the card payment. Deciding again while the refund is under way
    returns the same decision (a double click refunds once: the refund's key is stable)."""
    overpayment = _locked(db, overpayment_id)
    if overpayment.state is OverpaymentStatus.REFUNDING:
        return overpayment
    if overpayment.state is not OverpaymentStatus.OPEN:
        raise OverpaymentSettled(f"This overpayment is already {overpayment.state.label.lower()}.")
    card = overpayment.card_payment()
    if card is None:
        raise BillingError(
            "Neither payment was taken by card in the portal: refund it where it was paid."
        )
    overpayment.status = OverpaymentStatus.REFUNDING
    overpayment.refund_payment_id = card.id
    overpayment.decided_by_id = user_id
    overpayment.decided_at = utcnow()
    db.flush()
    return overpayment


def decide_credit(db: Session, overpayment_id: int, user_id: int | None) -> Overpayment:
    """Keep the extra as the customer's credit. Only money Xero does not hold yet can become
    an overpayment there: a held card payment (a payment made in Xero is already on the
    invoice there)."""
    overpayment = _locked(db, overpayment_id)
    if overpayment.state in (OverpaymentStatus.CREDITING, OverpaymentStatus.KEPT_AS_CREDIT):
        return overpayment
    if overpayment.state is not OverpaymentStatus.OPEN:
        raise OverpaymentSettled(f"This overpayment is already {overpayment.state.label.lower()}.")
    held = overpayment.payment
    if held.xero_payment_id or not held.held:
        raise BillingError(
            "Xero holds this payment on the invoice already: refund the card payment instead."
        )
    overpayment.status = OverpaymentStatus.CREDITING
    overpayment.amount = held.money_kept
    overpayment.decided_by_id = user_id
    overpayment.decided_at = utcnow()
    db.flush()
    events.publish(db, events.OVERPAYMENT_KEPT, overpayment=overpayment)
    return overpayment


def credit_recorded(overpayment: Overpayment, xero_overpayment_id: str | None) -> None:
    """Xero holds the credit now (or there is no Xero to tell)."""
    overpayment.xero_overpayment_id = xero_overpayment_id
    _resolve(overpayment, OverpaymentStatus.KEPT_AS_CREDIT)
