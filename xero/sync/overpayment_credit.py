"""An overpayment an admin kept as the customer's credit, recorded in Xero so both books
agree: a RECEIVE-OVERPAYMENT bank transaction on the customer's contact, into the account
portal payments go to, for the held card payment's amount, with Stripe's charge id as its
Reference. Xero keeps it as the contact's credit, to allocate to a later invoice or refund.

Idempotent: the job's Idempotency-Key is stable across its attempts, and after an attempt
whose outcome is unknown the contact's overpayments are looked up by Reference and amount
before writing again. The invoice's own payments in Xero are left as they are: the held
card payment never reached Xero (``payment_sync`` writes only applied payments).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import outside_transaction
from billing.jobs import WaitFor
from billing.payments.overpayments import Overpayment, OverpaymentStatus, credit_recorded
from xero.api.errors import NotConnected, ValidationFailed
from xero.api.port import XeroPort
from xero.api.records import CreditDraft, XeroCredit
from xero.api.sdk_models import CREDIT_TYPE
from xero.models import SyncJob, XeroSettings
from xero.sync.invoices import Results
from xero.sync.payments import xero_reference

log = logging.getLogger(__name__)

TYPE = CREDIT_TYPE


class ContactNotInXero(NotConnected):
    """The customer has no Xero contact yet: the job waits, like a paused connection."""


def _existing(api: XeroPort, reference: str, contact_id: str, amount: Decimal) -> XeroCredit | None:
    for x in api.find_credits(f'Type=="{TYPE}" AND Reference=="{reference}"'):
        if (
            x.status == "AUTHORISED"
            and x.contact_id
            and x.contact_id.lower() == contact_id.lower()
            and x.total == amount
        ):
            return x
    return None


def push_credits(db: Session, api: XeroPort, jobs: Sequence[SyncJob], now: datetime) -> Results:
    results: Results = {}
    found = {
        o.id: o
        for o in db.scalars(
            select(Overpayment).where(Overpayment.id.in_([j.object_id for j in jobs]))
        )
    }
    settings = db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == api.tenant_id))
    account = settings.payments_account if settings is not None else ""
    work = []
    for job in jobs:
        overpayment = found.get(job.object_id)
        if overpayment is None or overpayment.state is not OverpaymentStatus.CREDITING:
            results[job.id] = None  # decided otherwise, or recorded already
            continue
        contact_id = overpayment.invoice.customer.xero_contact_id
        if not contact_id:
            # The customer has no Xero contact yet: the job waits for it, and the
            # connection is not reported as failing.
            results[job.id] = WaitFor(
                f"Waiting for {overpayment.invoice.customer.name} to reach Xero."
            )
            continue
        if not account:
            results[job.id] = ValidationFailed(
                ["Choose the account portal payments are recorded to in the Xero settings."]
            )
            continue
        work.append((job, overpayment, contact_id, xero_reference(overpayment.payment)))
    outside_transaction(db)
    for job, overpayment, contact_id, reference in work:
        if job.outcome_unknown:
            x = _existing(api, reference, contact_id, overpayment.amount)
            if x is not None:
                credit_recorded(overpayment, x.overpayment_id or x.bank_transaction_id)
                results[job.id] = None
                continue
        payment = overpayment.payment
        x = api.create_credit(
            CreditDraft(
                contact_id=contact_id,
                account_code=account,
                paid_on=payment.paid_on,
                reference=reference,
                description=(
                    f"Paid twice for invoice {overpayment.invoice.display_number}"
                    f" ({reference}): kept as credit"
                ),
                amount=overpayment.amount,
            ),
            idempotency_key=job.idempotency_key,
        )
        errors = list(x.errors) if x is not None else ["Xero did not return the credit"]
        if x is None or errors:
            results[job.id] = ValidationFailed(errors)
            continue
        credit_recorded(overpayment, x.overpayment_id or x.bank_transaction_id)
        log.info("overpayment %s kept as credit in Xero (%s)", overpayment.id, x.overpayment_id)
        results[job.id] = None
    return results
