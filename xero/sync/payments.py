"""Portal payments to Xero: each card payment taken in the portal is recorded against its
invoice's Xero twin, and re-stated there when it is refunded or reversed.

A PAYMENT job means "this payment must stand in Xero as it stands in the portal now": its
net amount (amount less refunds, zero once reversed) on the configured payments account,
dated the day it was paid, with the gateway's transaction id as Reference.

- Not in Xero yet: one batched PUT /Payments (summarizeErrors=false) for the whole batch,
  each element's errors on its own job. After an attempt whose outcome is unknown, the
  invoice's payments in Xero are looked up by Reference and amount before writing again
  (Xero keeps Idempotency-Keys for minutes only).
- In Xero with another amount (refunded, reversed): Xero never changes a payment's amount,
  so the payment there is deleted (POST Payments/{id} with Status DELETED) and, when some of
  it still stands, the net amount is recorded as a new payment. Both sides then show the same
  amount due again.
- The invoice is not in Xero yet: the job waits without counting an attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from billing.db import ZERO, outside_transaction
from billing.invoices.model import Payment, PaymentSource
from billing.jobs import WaitFor
from xero.api.errors import (
    AuthLost,
    NotConnected,
    RateLimited,
    ValidationFailed,
    XeroError,
)
from xero.api.idempotency import idempotency_key
from xero.api.port import XeroPort
from xero.api.records import PaymentDraft, XeroPayment
from xero.models import SyncJob, XeroInvoiceLink, XeroSettings
from xero.sync.invoices import Results, batch_key

log = logging.getLogger(__name__)

#: Xero's where filters get long: payments looked up per GET.
LOOKUP_CHUNK = 25
#: Xero answers this when a payment is already deleted; the deletion is then done.
ALREADY_DELETED = "already been deleted"


#: Xero's answers when its invoice has less due than the portal's payment, or is PAID.
XERO_HAS_OTHER_MONEY = (
    "exceeds the amount outstanding",
    "can only be made against Authorised documents",
)


def xero_reference(payment: Payment) -> str:
    """What Xero shows as the payment's Reference: the gateway's transaction id."""
    reference = (
        payment.reference
        or payment.gateway_charge_id
        or payment.gateway_payment_id
        or f"Portal payment {payment.id}"
    )
    return reference[:255]


def _guids(field: str, ids: Sequence[str]) -> str:
    return " OR ".join(f'{field}==guid("{i}")' for i in ids)


def _xero_payments(api: XeroPort, field: str, ids: Sequence[str]) -> list[XeroPayment]:
    found: list[XeroPayment] = []
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), LOOKUP_CHUNK):
        found.extend(api.get_payments(_guids(field, unique[start : start + LOOKUP_CHUNK])))
    return found


def push_payments(db: Session, api: XeroPort, jobs: Sequence[SyncJob], now: datetime) -> Results:
    results: Results = {}
    payments = {
        p.id: p
        for p in db.scalars(
            select(Payment)
            .options(joinedload(Payment.invoice))
            .where(Payment.id.in_([j.object_id for j in jobs]))
        )
    }
    links = {
        link.invoice_id: link
        for link in db.scalars(
            select(XeroInvoiceLink).where(
                XeroInvoiceLink.invoice_id.in_({p.invoice_id for p in payments.values()})
            )
        )
    }
    settings = db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == api.tenant_id))
    account = settings.payments_account if settings is not None else ""
    outside_transaction(db)
    if settings is not None and not settings.sync_payments_out:
        # Queued before an admin turned payments to Xero off: nothing is written, and the
        # job stops where the admin sees it (Retry once it is on again, or Ignore).
        off = ValidationFailed(
            ["Recording portal payments in Xero is turned off in the Xero settings."]
        )
        return {job.id: off for job in jobs}

    work: list[tuple[SyncJob, Payment, str]] = []
    for job in jobs:
        payment = payments.get(job.object_id)
        if payment is None or payment.source != PaymentSource.PORTAL:
            results[job.id] = None  # payments made in Xero are already there
            continue
        link = links.get(payment.invoice_id)
        if link is None or not link.xero_invoice_id:
            if payment.net_amount == ZERO and not payment.xero_payment_id:
                results[job.id] = None  # taken back before it ever reached Xero
            else:
                # Its invoice has not reached Xero yet: the job waits and tries again
                # later, without counting an attempt, needing an admin, or the connection
                # being reported as failing.
                results[job.id] = WaitFor(
                    f"Waiting for invoice {payment.invoice.display_number} to reach Xero."
                )
            continue
        work.append((job, payment, link.xero_invoice_id))
    if not work:
        return results

    _take_back_changed(api, work, results)
    to_create = [
        (job, payment, invoice_id)
        for job, payment, invoice_id in work
        if job.id not in results and not payment.xero_payment_id and payment.net_amount > ZERO
    ]
    for job, payment, _ in work:
        if job.id not in results and (payment.xero_payment_id or payment.net_amount == ZERO):
            results[job.id] = None  # stands in Xero as it stands here, or is gone from both
    if not to_create:
        return results
    if not account:
        for job, _, _ in to_create:
            results[job.id] = ValidationFailed(
                ["Choose the account portal payments are recorded to in the Xero settings."]
            )
        return results

    unknown = [item for item in to_create if item[0].outcome_unknown]
    if unknown:
        _adopt_by_reference_and_amount(db, api, unknown)
    sendable = []
    for job, payment, invoice_id in to_create:
        if payment.xero_payment_id:
            results[job.id] = None  # the lost attempt had written it after all
        else:
            sendable.append((job, payment, invoice_id))
    if not sendable:
        return results

    returned = api.create_payments(
        [
            PaymentDraft(
                invoice_id=invoice_id,
                account_code=account,
                amount=payment.net_amount,
                paid_on=payment.paid_on,
                reference=xero_reference(payment),
            )
            for _, payment, invoice_id in sendable
        ],
        idempotency_key=batch_key("payments", [job for job, _, _ in sendable]),
    )
    for index, (job, payment, _) in enumerate(sendable):
        x = returned[index] if index < len(returned) else None
        if x is None or not x.payment_id:
            errors = list(x.errors) if x is not None else []
            results[job.id] = ValidationFailed(errors or ["Xero did not return this payment"])
            continue
        errors = list(x.errors)
        if errors and any(words in e for e in errors for words in XERO_HAS_OTHER_MONEY):
            # Xero's invoice has less due than the portal thinks: money was paid in Xero
            # (a "Pay now" on the online invoice) that the portal has not read back yet.
            # Once it is read, the portal holds one of the two payments as an overpayment
            # for an admin to settle, and this job finds nothing left to write; until then
            # it waits, without counting an attempt or stopping for an admin.
            results[job.id] = WaitFor(
                f"Xero has other payments on invoice {payment.invoice.display_number} "
                f"({'; '.join(errors)}); waiting to read them back before writing this one."
            )
            continue
        if errors:
            results[job.id] = ValidationFailed(errors)
            continue
        payment.xero_payment_id = x.payment_id
        results[job.id] = None
    return results


def delete_in_xero(api: XeroPort, xero_payment_id: str, *, key: str) -> None:
    """Delete one payment in Xero (POST Payments/{id}, Status DELETED). One already deleted
    there counts as done, so a retried deletion is harmless."""
    try:
        api.delete_payment(
            xero_payment_id, idempotency_key=idempotency_key("delete", key, xero_payment_id)
        )
    except ValidationFailed as error:
        if not any(ALREADY_DELETED in m for m in error.messages):
            raise


def payments_in_xero(api: XeroPort, xero_invoice_id: str) -> list[XeroPayment]:
    """Every payment Xero has on one invoice, deleted ones included."""
    return _xero_payments(api, "Invoice.InvoiceID", [xero_invoice_id])


def is_deleted(x: XeroPayment) -> bool:
    return x.status == "DELETED"


def _take_back_changed(
    api: XeroPort, work: Sequence[tuple[SyncJob, Payment, str]], results: Results
) -> None:
    """Delete the Xero payments whose amount is no longer the portal's net amount (a refund
    or a reversal). A payment found deleted in Xero is forgotten, to be recorded anew."""
    pushed = [
        (job, payment, payment.xero_payment_id)
        for job, payment, _ in work
        if payment.xero_payment_id
    ]
    if not pushed:
        return
    current = {
        x.payment_id.lower(): x
        for x in _xero_payments(api, "PaymentID", [xero_id for _, _, xero_id in pushed])
    }
    for index, (job, payment, xero_id) in enumerate(pushed):
        found = current.get(xero_id.lower())
        if found is None or found.status == "DELETED":
            payment.xero_payment_id = None
            continue
        if found.amount == payment.net_amount:
            continue
        try:
            delete_in_xero(api, xero_id, key=job.idempotency_key)
        except (RateLimited, AuthLost, NotConnected) as error:
            for rest, _, _ in pushed[index:]:
                results[rest.id] = error
            return
        except XeroError as error:
            results[job.id] = error
            continue
        log.info("xero payment %s deleted (portal payment %s)", payment.xero_payment_id, payment.id)
        payment.xero_payment_id = None


def _adopt_by_reference_and_amount(
    db: Session, api: XeroPort, unknown: Sequence[tuple[SyncJob, Payment, str]]
) -> None:
    """After an attempt whose outcome is unknown: a payment on the invoice in Xero with this
    payment's Reference and amount, not already another portal payment's, is this one."""
    found = _xero_payments(api, "Invoice.InvoiceID", [invoice_id for _, _, invoice_id in unknown])
    candidates = [x for x in found if x.status == "AUTHORISED"]
    ids = [x.payment_id for x in candidates]
    claimed = (
        {
            value.lower()
            for value in db.scalars(
                select(Payment.xero_payment_id).where(Payment.xero_payment_id.in_(ids))
            )
            if value
        }
        if ids
        else set()
    )
    outside_transaction(db)
    for _, payment, invoice_id in unknown:
        for x in candidates:
            xero_id = x.payment_id.lower()
            if (
                xero_id not in claimed
                and x.invoice_id.lower() == invoice_id.lower()
                and x.reference == xero_reference(payment)
                and x.amount == payment.net_amount
            ):
                payment.xero_payment_id = x.payment_id
                claimed.add(xero_id)
                break
