"""Payments made in Xero, into the portal: a webhook's event re-reads one invoice, and a poller
reads every invoice and payment changed since the last pull (for webhooks that were lost).

Both apply the same rules to what Xero says now, so events may arrive twice, late or out of
order (nothing is taken from the event but the invoice's id):

- a payment in Xero the portal does not know (the online invoice's "Pay now", a bank
  reconciliation, one entered by hand) is recorded as a payment from Xero (held as an
  overpayment when the invoice was paid here meanwhile: billing.overpayments); one the portal
  wrote itself is recognised by its PaymentID (or, while its push is unconfirmed, by its
  Reference and amount) and recorded once;
- a payment made in Xero and deleted there is reversed in the portal. A card payment the
  portal took stands until it is refunded in the portal: when it is deleted in Xero, the
  portal records it there again;
- an invoice voided in Xero is voided in the portal;
- an invoice the portal never sent is logged and left alone.

Transactions: the token is fetched (and committed, refresh tokens being single use) before
Xero is called, and no transaction stays open during the calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from billing import inbox
from billing.errors import BillingError
from billing.inbox import InboundEvent
from billing.invoices import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.invoicing import void_invoice
from billing.payments import record_payment, reverse_payment
from xero.client import XeroApi
from xero.errors import AuthLost, NotConnected, RateLimited, XeroError
from xero.models import (
    ConnectionStatus,
    JobKind,
    JobStatus,
    SyncJob,
    XeroConnection,
    XeroInvoiceLink,
    XeroSettings,
)
from xero.payment_sync import xero_reference

log = logging.getLogger(__name__)

PROVIDER = "xero"
PAGE_SIZE = 100
#: Read a little before the last pull started: the portal's clock and Xero's may differ.
OVERLAP = timedelta(minutes=2)
#: Invoices re-read per GET /Invoices?IDs=... (Xero's page holds 100; 50 keeps URLs short).
READ_BATCH = 50
#: Invoices whose payments (deleted ones too) are read per GET /Payments?where=...
PAYMENTS_CHUNK = 25
#: Other stored Xero events whose invoices one event's handler reads along with its own.
EVENTS_PER_READ = 500


class PortalPushInProgress(XeroError):
    """A portal payment on this invoice is being written to Xero right now: what Xero shows
    may be that payment before its id is stored. Retried later (inbox backoff)."""


@dataclass
class InvoiceChange:
    """What Xero says now about one invoice."""

    xero_invoice_id: str
    #: AUTHORISED, PAID, VOIDED...; None when only its payments were read.
    status: str | None
    payments: list = field(default_factory=list)


def _status(x) -> str:
    return str(getattr(x.status, "value", x.status) or "")


def _payment_id(x) -> str:
    return str(x.payment_id).lower()


# -- applying what Xero says ---------------------------------------------------------------


def _links(db: Session, xero_ids: Sequence[str]) -> dict[str, XeroInvoiceLink]:
    if not xero_ids:
        return {}
    rows = db.scalars(
        select(XeroInvoiceLink).where(
            func.lower(XeroInvoiceLink.xero_invoice_id).in_([i.lower() for i in xero_ids])
        )
    )
    return {(link.xero_invoice_id or "").lower(): link for link in rows}


def apply_changes(
    db: Session,
    changes: Sequence[InvoiceChange],
    now: datetime,
    *,
    payments_out: bool = True,
    waiting: set[str] | None = None,
) -> tuple[int, bool]:
    """Apply each change in its own SAVEPOINT. Returns (invoices applied, all applied):
    one that must wait (a portal push in progress) leaves the rest applied, and its Xero id
    (lower case) is added to ``waiting`` when given."""
    links = _links(db, [c.xero_invoice_id for c in changes])
    applied, complete = 0, True
    for change in changes:
        link = links.get(change.xero_invoice_id.lower())
        if link is None:
            log.debug("xero invoice %s is not one of the portal's", change.xero_invoice_id)
            continue
        try:
            with db.begin_nested():
                _apply(db, link, change, now, payments_out)
        except PortalPushInProgress as error:
            log.info("xero invoice %s: %s", change.xero_invoice_id, error)
            complete = False
            if waiting is not None:
                waiting.add(change.xero_invoice_id.lower())
            continue
        applied += 1
    db.flush()
    return applied, complete


def _apply(
    db: Session, link: XeroInvoiceLink, change: InvoiceChange, now: datetime, payments_out: bool
) -> None:
    invoice = db.get(Invoice, link.invoice_id)
    if invoice is None:
        return
    # Deletions first, so that a payment replacing a deleted one fits the amount due.
    ordered = sorted(
        change.payments,
        key=lambda x: (_status(x) != "DELETED", str(x.date or ""), _payment_id(x)),
    )
    for x in ordered:
        _apply_payment(db, invoice, x, payments_out)
    if change.status:
        link.xero_status = change.status
        link.synced_at = now
        if change.status == "VOIDED" and invoice.state is InvoiceStatus.AWAITING_PAYMENT:
            try:
                void_invoice(db, invoice)
            except BillingError as error:
                log.error("invoice %s voided in Xero, not here: %s", invoice.number, error)


def _find(db: Session, xero_payment_id: str) -> Payment | None:
    return db.scalar(
        select(Payment).where(func.lower(Payment.xero_payment_id) == xero_payment_id.lower())
    )


def _apply_payment(db: Session, invoice: Invoice, x, payments_out: bool) -> None:
    status = _status(x)
    local = _find(db, _payment_id(x))
    if status == "DELETED":
        if local is None or local.reversed_at is not None:
            return
        if local.source == PaymentSource.XERO:
            reverse_payment(db, local)
        elif local.net_amount > 0 and payments_out:
            # The card payment was taken; only a refund in the portal takes it back.
            log.warning("portal payment %s was deleted in Xero: recording it again", local.id)
            from xero.outbox import enqueue

            enqueue(db, JobKind.PAYMENT, local.id)
        return
    if status != "AUTHORISED" or local is not None:
        return  # already recorded, from either side
    amount = Decimal(str(x.amount))
    twin = _portal_twin(db, invoice, x.reference or "", amount)
    if twin is not None:
        twin.xero_payment_id = str(x.payment_id)
        db.flush()
        return
    if _push_running(db, invoice):
        raise PortalPushInProgress("a portal payment on this invoice is being sent to Xero")
    try:
        with db.begin_nested():
            record_payment(
                db,
                invoice,
                amount=amount,
                paid_on=x.date,
                method="xero",
                reference=(x.reference or "")[:255],
                source=PaymentSource.XERO,
                xero_payment_id=str(x.payment_id),
                # Xero holds the money: on an invoice paid here meanwhile it is an
                # overpayment for an admin (billing.overpayments), never dropped.
                hold_overpayment=True,
            )
    except BillingError as error:
        # Xero holds money the portal cannot take (the invoice was voided here): a person
        # must look; the log says where.
        log.error(
            "xero payment %s of %s on invoice %s not recorded: %s",
            x.payment_id,
            amount,
            invoice.number,
            error,
        )


def _portal_twin(db: Session, invoice: Invoice, reference: str, amount: Decimal) -> Payment | None:
    """A portal payment whose push to Xero was not confirmed and that this Xero payment is."""
    for payment in db.scalars(
        select(Payment).where(
            Payment.invoice_id == invoice.id,
            Payment.source == PaymentSource.PORTAL,
            Payment.xero_payment_id.is_(None),
            Payment.reversed_at.is_(None),
        )
    ):
        if xero_reference(payment) == reference and payment.net_amount == amount:
            return payment
    return None


def _push_running(db: Session, invoice: Invoice) -> bool:
    portal_ids = select(Payment.id).where(
        Payment.invoice_id == invoice.id, Payment.source == PaymentSource.PORTAL
    )
    return (
        db.scalar(
            select(SyncJob.id)
            .where(
                SyncJob.kind == JobKind.PAYMENT,
                SyncJob.status == JobStatus.RUNNING,
                SyncJob.object_id.in_(portal_ids),
            )
            .limit(1)
        )
        is not None
    )


# -- reading Xero --------------------------------------------------------------------------


def _connect(service, db: Session) -> tuple[XeroApi, XeroSettings | None]:
    api = service.api(db)
    settings = db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == api.tenant_id))
    return api, settings


def _connection(db: Session) -> XeroConnection | None:
    return db.scalar(select(XeroConnection).order_by(XeroConnection.id.desc()).limit(1))


def _event_invoice(connection: XeroConnection | None, data: dict) -> str | None:
    """The Xero invoice (lower case) an event asks to re-read; None for events the portal
    ignores (not an invoice, another organisation, the integration removed)."""
    if str(data.get("eventCategory", "")).upper() != "INVOICE":
        return None
    tenant_id = str(data.get("tenantId", "")).lower()
    if (
        connection is None
        or connection.status == ConnectionStatus.REMOVED
        or connection.tenant_id.lower() != tenant_id
    ):
        log.info("xero event for organisation %s, not the connected one: ignored", tenant_id)
        return None
    return str(data.get("resourceId") or "").lower() or None


def handle_event(service, db: Session, event: InboundEvent) -> None:
    """The inbox handler for Xero events: re-read the invoice the event names, and with it
    the invoices of every other Xero event waiting in the inbox, 50 per call (hundreds of
    "Pay now" webhooks cost a few calls, not two each).

    The others are claimed and marked done here; those another round already claimed (the
    inbox hands them over one by one) get ``processed_at``: covered by a read made after they
    arrived, their own turn finds nothing to do. An invoice that could not be read, or must
    wait for a portal push, leaves its other events to be handled on their own."""
    if event.processed_at is not None:
        return  # covered by another event's read of its invoice, made after it arrived
    connection = _connection(db)
    mine = _event_invoice(connection, event.data())
    if mine is None:
        return
    moment = service.clock()
    others = _other_events(db, connection, event.id, moment)
    db.commit()  # the claims stand even if this event fails
    wanted = list(dict.fromkeys([mine] + [i for i, _ in others.values() if i]))
    waiting: set[str] = set()
    failed: dict[str, XeroError] = {}
    try:
        _reread(service, db, wanted, waiting, failed)
    except Exception:
        db.rollback()
        _release(db, [i for i, (_, claimed) in others.items() if claimed])
        raise
    now = service.clock()
    if others:
        for other in db.scalars(select(InboundEvent).where(InboundEvent.id.in_(list(others)))):
            invoice_id, claimed = others[other.id]
            blocked = invoice_id in failed or invoice_id in waiting
            if claimed:
                other.locked_until = None
                other.status = "pending" if blocked else "done"
                other.processed_at = None if blocked else now
            elif not blocked:
                other.processed_at = now
    if mine in failed or mine in waiting:
        db.commit()  # what was applied, and the others' outcome
        if mine in failed:
            raise failed[mine]
        raise PortalPushInProgress("a portal payment on this invoice is being sent to Xero")


def _release(db: Session, event_ids: list[int]) -> None:
    """Give claimed events back, due at once, to be handled on their own."""
    if event_ids:
        for other in db.scalars(select(InboundEvent).where(InboundEvent.id.in_(event_ids))):
            other.status = "pending"
            other.locked_until = None
        db.commit()


def _other_events(
    db: Session, connection: XeroConnection | None, event_id: int, moment: datetime
) -> dict[int, tuple[str | None, bool]]:
    """Xero events due or being handled, but this one: event id -> (invoice to re-read,
    whether claimed here). Due ones are claimed for the read."""
    found: dict[int, tuple[str | None, bool]] = {}
    rows = db.scalars(
        select(InboundEvent)
        .where(
            InboundEvent.provider == PROVIDER,
            InboundEvent.id != event_id,
            or_(
                and_(InboundEvent.status == "pending", InboundEvent.next_attempt_at <= moment),
                InboundEvent.status == "running",
            ),
        )
        .order_by(InboundEvent.id)
        .limit(EVENTS_PER_READ)
        .with_for_update(skip_locked=True)
    )
    for other in rows:
        claim = other.status == "pending" or (
            other.locked_until is not None and other.locked_until < moment
        )
        if claim:
            other.status = "running"
            other.locked_until = moment + inbox.LEASE
        found[other.id] = (_event_invoice(connection, other.data()), claim)
    return found


def read_invoices(
    api: XeroApi,
    xero_invoice_ids: Sequence[str],
    known: dict[str, set[str]] | None = None,
    failed: dict[str, XeroError] | None = None,
) -> dict[str, InvoiceChange]:
    """Invoices and their payments as Xero has them now, 50 per GET /Invoices?IDs=...

    An invoice lists only the payments that stand. Where one the portal holds for it
    (``known``: Xero invoice id -> PaymentIDs, lower case) is missing from that list, it was
    deleted: that invoice's payments, deleted ones too, are read through GET /Payments.
    With ``failed`` given, a call that fails leaves its invoices there, with the error, and
    the others are still read (a 429 or a lost connection stops the reading)."""
    changes: dict[str, InvoiceChange] = {}
    unique = list(dict.fromkeys(i.lower() for i in xero_invoice_ids))

    def failing(error: XeroError, chunk: list[str], rest: list[str]) -> bool:
        """Note the error; whether to stop reading."""
        if failed is None:
            raise error
        stop = isinstance(error, RateLimited | AuthLost | NotConnected)
        for key in rest if stop else chunk:
            failed[key] = error
            changes.pop(key, None)
        return stop

    for start in range(0, len(unique), READ_BATCH):
        chunk = unique[start : start + READ_BATCH]
        try:
            answer = api.call("get_invoices", i_ds=chunk, page=1)
        except XeroError as error:
            if failing(error, chunk, unique[start:]):
                return changes
            continue
        for x in answer.invoices or []:
            payments = list(x.payments or [])
            for payment in payments:
                payment.status = payment.status or "AUTHORISED"  # listed: it stands
            key = str(x.invoice_id).lower()
            changes[key] = InvoiceChange(key, _status(x), payments)
    known = known or {}
    gone = [
        key
        for key, change in changes.items()
        if known.get(key, set()) - {_payment_id(p) for p in change.payments}
    ]
    for start in range(0, len(gone), PAYMENTS_CHUNK):
        chunk = gone[start : start + PAYMENTS_CHUNK]
        try:
            answer = api.call(
                "get_payments",
                where=" OR ".join(f'Invoice.InvoiceID==guid("{i}")' for i in chunk),
            )
        except XeroError as error:
            if failing(error, chunk, gone[start:]):
                return changes
            continue
        found: dict[str, list] = {key: [] for key in chunk}
        for x in answer.payments or []:
            if x.invoice is not None and str(x.invoice.invoice_id).lower() in found:
                found[str(x.invoice.invoice_id).lower()].append(x)
        for key, payments in found.items():
            changes[key].payments = payments
    return changes


def _known_payments(db: Session, xero_invoice_ids: Sequence[str]) -> dict[str, set[str]]:
    """The Xero PaymentIDs the portal holds as standing, per Xero invoice id (lower case)."""
    known: dict[str, set[str]] = {}
    if not xero_invoice_ids:
        return known
    rows = db.execute(
        select(XeroInvoiceLink.xero_invoice_id, Payment.xero_payment_id)
        .join(Payment, Payment.invoice_id == XeroInvoiceLink.invoice_id)
        .where(
            func.lower(XeroInvoiceLink.xero_invoice_id).in_([i.lower() for i in xero_invoice_ids]),
            Payment.xero_payment_id.is_not(None),
            Payment.reversed_at.is_(None),
        )
    )
    for invoice_id, payment_id in rows:
        known.setdefault((invoice_id or "").lower(), set()).add((payment_id or "").lower())
    return known


def _reread(
    service, db: Session, wanted: list[str], waiting: set[str], failed: dict[str, XeroError]
) -> None:
    """Read the portal's invoices among ``wanted`` from Xero and apply them (not committed);
    those that could not be read are left in ``failed``."""
    api, settings = _connect(service, db)
    if settings is not None and not settings.sync_payments_in:
        return
    payments_out = settings is None or settings.sync_payments_out
    links = _links(db, wanted)
    ours = [i for i in wanted if i in links]
    if not ours:
        return
    known = _known_payments(db, ours)
    db.commit()  # no transaction stays open while Xero answers
    changes = read_invoices(api, ours, known, failed)
    apply_changes(
        db, list(changes.values()), service.clock(), payments_out=payments_out, waiting=waiting
    )


def register(service) -> None:
    """Hand stored Xero events to ``handle_event`` (the job runner calls this)."""
    from billing import inbox

    inbox.register_handler(PROVIDER, lambda db, event: handle_event(service, db, event))


def _pages(api: XeroApi, method: str, collection: str, page_size: int, **kwargs) -> list:
    items: list = []
    page = 1
    while True:
        answer = api.call(method, page=page, page_size=page_size, **kwargs)
        batch = list(getattr(answer, collection) or [])
        items.extend(batch)
        if len(batch) < page_size:
            return items
        page += 1


def pull(service, *, page_size: int = PAGE_SIZE) -> int:
    """Read every invoice and payment changed in Xero since the last pull and apply them.
    Returns how many of the portal's invoices were applied. Not connected: nothing."""
    with service.session_factory() as db:
        try:
            api, settings = _connect(service, db)
        except NotConnected:
            return 0
        if settings is None or not settings.sync_payments_in:
            return 0
        connection = db.scalar(
            select(XeroConnection).where(XeroConnection.tenant_id == api.tenant_id).limit(1)
        )
        since = settings.last_pulled_at or (connection.connected_at if connection else None)
        payments_out = settings.sync_payments_out
        started = service.clock()
        db.commit()
        modified = {"if_modified_since": since - OVERLAP} if since is not None else {}
        invoices = _pages(
            api,
            "get_invoices",
            "invoices",
            page_size,
            where='Type=="ACCREC"',
            summary_only=True,
            **modified,
        )
        payments = _pages(api, "get_payments", "payments", page_size, **modified)
        changes: dict[str, InvoiceChange] = {}
        for x in invoices:
            key = str(x.invoice_id).lower()
            changes[key] = InvoiceChange(key, _status(x))
        by_invoice: dict[str, list] = {}
        for x in payments:
            if x.invoice is not None and x.invoice.invoice_id:
                by_invoice.setdefault(str(x.invoice.invoice_id).lower(), []).append(x)
        for key, found in by_invoice.items():
            changes.setdefault(key, InvoiceChange(key, None)).payments = found
        applied, complete = apply_changes(
            db, list(changes.values()), started, payments_out=payments_out
        )
        if complete:
            db.get(XeroSettings, settings.id).last_pulled_at = started
        db.commit()
        return applied


def puller(service) -> Callable[[], int]:
    """``pull`` for the job runner: a Xero error waits for the next round."""

    def run() -> int:
        try:
            return pull(service)
        except XeroError as error:
            log.warning("xero pull: %s", error)
            return 0

    return run
