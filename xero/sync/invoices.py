"""Invoices to Xero as AUTHORISED, voids and deletes, and the online invoice link.

Each function takes a batch of claimed jobs and returns, per job id, None for done or the
error that job met. An error raised instead (a time-out, a 429) concerns the whole batch,
except for jobs that make one call per object (``one_call_each``).

They run in the worker, which owns the transaction: each loads what it needs, then ends the
read transaction (``billing.db.outside_transaction``) so that no transaction stays open
while Xero is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import outside_transaction
from billing.invoices.model import Invoice, InvoiceStatus
from billing.jobs import WaitFor
from xero.api.errors import AuthLost, NotConnected, RateLimited, ValidationFailed, XeroError
from xero.api.idempotency import idempotency_key
from xero.api.port import XeroPort
from xero.api.records import InvoiceDraft, InvoiceLineDraft
from xero.models import JobKind, SyncJob, XeroInvoiceLink
from xero.sync.contacts import ensure_contacts, note_changes, update_contacts

#: Per job: None when done, the Xero adapter's error, or a wait the handler decided on.
Results = dict[int, XeroError | WaitFor | None]


@dataclass
class TenantSettings:
    tax_types: dict[int, str] = field(default_factory=dict)
    branding_theme_id: str | None = None
    #: One way: each push renames linked Xero contacts to the portal's customer names.
    sync_client_names: bool = False
    #: Ask Xero to email each invoice to its contact once it is in Xero.
    email_invoices: bool = False


def batch_key(kind: str, jobs: Sequence[SyncJob]) -> str:
    """Stable for the same logical batch across attempts, different for any other batch."""
    keys = ",".join(sorted(job.idempotency_key for job in jobs))
    return idempotency_key(kind, keys)


def _links(db: Session, invoice_ids: Sequence[int]) -> dict[int, XeroInvoiceLink]:
    rows = db.scalars(select(XeroInvoiceLink).where(XeroInvoiceLink.invoice_id.in_(invoice_ids)))
    return {link.invoice_id: link for link in rows}


def _load(
    db: Session, jobs: Sequence[SyncJob]
) -> tuple[dict[int, Invoice], dict[int, XeroInvoiceLink]]:
    """The jobs' invoices (with lines and payments) and their links, then the read
    transaction ends: what follows calls Xero."""
    ids = [job.object_id for job in jobs]
    invoices = {i.id: i for i in db.scalars(select(Invoice).where(Invoice.id.in_(ids)))}
    links = _links(db, list(invoices))
    outside_transaction(db)
    return invoices, links


def _link(db: Session, links: dict[int, XeroInvoiceLink], invoice_id: int) -> XeroInvoiceLink:
    if invoice_id not in links:
        links[invoice_id] = XeroInvoiceLink(invoice_id=invoice_id)
        db.add(links[invoice_id])
    return links[invoice_id]


def invoice_draft(
    invoice: Invoice,
    *,
    contact_id: str,
    tax_types: dict[int, str],
    branding_theme_id: str | None,
    xero_invoice_id: str | None = None,
) -> InvoiceDraft:
    return InvoiceDraft(
        xero_invoice_id=xero_invoice_id,
        contact_id=contact_id,
        number=invoice.number,
        reference=invoice.reference or None,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        expected_payment_date=invoice.expected_payment_date,
        line_amount_type=invoice.line_amount_type,
        currency=invoice.currency,
        branding_theme_id=branding_theme_id or None,
        lines=tuple(
            InvoiceLineDraft(
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_price,
                account_code=line.account_code,
                tax_type=tax_types[line.tax_rate_id],
            )
            for line in invoice.lines
        ),
    )


def _adopt_by_number(
    db: Session, api: XeroPort, invoices: Sequence[Invoice], links: dict[int, XeroInvoiceLink]
) -> None:
    """After an unknown outcome, link invoices Xero already has (found by invoice number)
    instead of sending them again."""
    numbers = [i.number for i in invoices if i.number]
    if not numbers:
        return
    by_number = {x.number: x for x in api.get_invoices_by_numbers(numbers)}
    for invoice in invoices:
        found = by_number.get(invoice.number or "")
        if found is not None and found.status != "DELETED":
            link = _link(db, links, invoice.id)
            link.xero_invoice_id = found.invoice_id


def push_invoices(
    db: Session, api: XeroPort, jobs: Sequence[SyncJob], settings: TenantSettings, now: datetime
) -> Results:
    results: Results = {}
    invoices, links = _load(db, jobs)
    ready: list[tuple[SyncJob, Invoice]] = []
    for job in jobs:
        invoice = invoices.get(job.object_id)
        # Awaiting-payment invoices are sent; voids and deletes have jobs of their own, and
        # payments reach Xero as payments. An invoice paid before it ever reached Xero (a
        # card payment while Xero was down) is still sent, as AUTHORISED: its payment
        # follows, and waits for it.
        in_xero = bool(invoice and invoice.id in links and links[invoice.id].xero_invoice_id)
        sendable_state = invoice is not None and (
            invoice.state is InvoiceStatus.AWAITING_PAYMENT
            or (invoice.state is InvoiceStatus.PAID and not in_xero)
        )
        if invoice is None or not sendable_state:
            results[job.id] = None
            continue
        unmapped = sorted(
            {ln.tax_rate.name for ln in invoice.lines if ln.tax_rate_id not in settings.tax_types}
        )
        if unmapped:
            results[job.id] = ValidationFailed(
                [f"Map the tax rate {', '.join(unmapped)} to a Xero tax rate in the Xero settings."]
            )
            continue
        ready.append((job, invoice))
    if not ready:
        return results

    customers = list({inv.customer_id: inv.customer for _, inv in ready}.values())
    if settings.sync_client_names:
        linked = [c for c in customers if c.xero_contact_id]
        renamed = update_contacts(api, linked, batch_key("contact-names", jobs), rename=True)
        note_changes(db, linked, renamed, now)
    contacts = ensure_contacts(api, customers, batch_key("contacts", jobs))
    note_changes(db, customers, contacts, now)
    sendable = []
    for job, invoice in ready:
        outcome = contacts[invoice.customer_id]
        if outcome.error is not None:
            results[job.id] = outcome.error
        else:
            sendable.append((job, invoice))
    unknown = [
        inv
        for job, inv in sendable
        if job.outcome_unknown and not (inv.id in links and links[inv.id].xero_invoice_id)
    ]
    if unknown:
        _adopt_by_number(db, api, unknown, links)
    if not sendable:
        return results

    payload = [
        invoice_draft(
            invoice,
            contact_id=str(contacts[invoice.customer_id].contact_id),
            tax_types=settings.tax_types,
            branding_theme_id=settings.branding_theme_id,
            xero_invoice_id=links[invoice.id].xero_invoice_id if invoice.id in links else None,
        )
        for _, invoice in sendable
    ]
    answer = api.put_invoices(
        payload, idempotency_key=batch_key("invoices", [job for job, _ in sendable])
    )
    returned = {x.number: x for x in answer}
    reached_xero: list[int] = []
    for job, invoice in sendable:
        x = returned.get(invoice.number or "")
        if x is None:
            results[job.id] = ValidationFailed(["Xero did not return this invoice"])
            continue
        errors = list(x.errors)
        if errors:
            results[job.id] = ValidationFailed(errors)
            continue
        link = _link(db, links, invoice.id)
        job_is_first_push = not link.xero_invoice_id
        if job_is_first_push:
            reached_xero.append(invoice.id)
        link.xero_invoice_id = x.invoice_id
        link.xero_status = x.status
        link.synced_at = now
        if x.total is not None and x.total != invoice.total:
            results[job.id] = ValidationFailed(
                [
                    f"Xero's total {x.total} differs from the portal's {invoice.total}; "
                    "check the tax rate mapping before retrying."
                ]
            )
            continue
        results[job.id] = None
        from xero.sync.outbox import enqueue

        if not link.online_invoice_url:
            enqueue(db, JobKind.ONLINE_INVOICE, invoice.id)
        if settings.email_invoices and job_is_first_push:
            enqueue(db, JobKind.EMAIL_INVOICE, invoice.id)
    from xero.sync.outbox import wake_payment_jobs

    wake_payment_jobs(db, reached_xero, now)
    return results


def change_status(
    db: Session, api: XeroPort, jobs: Sequence[SyncJob], status: str, now: datetime
) -> Results:
    """Void (or delete) the Xero twins of invoices; nothing to do for ones Xero never had."""
    results: Results = {}
    invoices, links = _load(db, jobs)
    unlinked = [
        invoices[j.object_id]
        for j in jobs
        if j.object_id in invoices
        and not (j.object_id in links and links[j.object_id].xero_invoice_id)
    ]
    if unlinked:
        _adopt_by_number(db, api, unlinked, links)
    targets: list[tuple[SyncJob, XeroInvoiceLink, str]] = []
    for job in jobs:
        link = links.get(job.object_id)
        if link is None or not link.xero_invoice_id or link.xero_status == status:
            results[job.id] = None
        else:
            targets.append((job, link, link.xero_invoice_id))
    if not targets:
        return results
    answer = api.set_invoice_status(
        [xero_id for _, _, xero_id in targets],
        status,
        idempotency_key=batch_key(status, [job for job, _, _ in targets]),
    )
    returned = {x.invoice_id: x for x in answer}
    for job, link, xero_id in targets:
        x = returned.get(xero_id)
        errors = list(x.errors) if x is not None else ["Xero did not return this invoice"]
        if errors:
            results[job.id] = ValidationFailed(errors)
            continue
        link.xero_status = status
        link.synced_at = now
        results[job.id] = None
    return results


def one_call_each(jobs: Sequence[SyncJob], carry_out: Callable[[SyncJob], None]) -> Results:
    """Results for jobs that make one call per object: each call's error is its own job's,
    so one time-out neither fails nor repeats the calls that went through before it. Only a
    rate limit or a lost connection stops the round: the jobs not yet tried wait with it."""
    results: Results = {}
    for index, job in enumerate(jobs):
        try:
            carry_out(job)
        except (RateLimited, AuthLost, NotConnected) as error:
            results.update({rest.id: error for rest in jobs[index:]})
            break
        except XeroError as error:
            results[job.id] = error
        else:
            results[job.id] = None
    return results


def fetch_online_links(db: Session, api: XeroPort, jobs: Sequence[SyncJob]) -> Results:
    """Each invoice's online link, one call each. A member may have had it fetched on demand
    meanwhile (``online_links``): each row is locked and re-read before it is written, and
    a link already stored is kept."""
    from xero.sync.online_links import store_link

    links = _links(db, [j.object_id for j in jobs])
    outside_transaction(db)
    fetched: dict[int, str] = {}

    def fetch(job: SyncJob) -> None:
        link = links.get(job.object_id)
        if link is None or not link.xero_invoice_id or link.online_invoice_url:
            return
        fetched[job.object_id] = api.online_invoice_url(link.xero_invoice_id)

    results = one_call_each(jobs, fetch)
    for invoice_id, url in fetched.items():
        store_link(db, invoice_id, url)
    return results


def email_invoices(db: Session, api: XeroPort, jobs: Sequence[SyncJob]) -> Results:
    """Xero emails each invoice to its contact (the organisation's invoice email template)."""
    links = _links(db, [j.object_id for j in jobs])
    outside_transaction(db)

    def send(job: SyncJob) -> None:
        link = links.get(job.object_id)
        if link is None or not link.xero_invoice_id:
            return
        api.email_invoice(link.xero_invoice_id, idempotency_key=job.idempotency_key)

    return one_call_each(jobs, send)
