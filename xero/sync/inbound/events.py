"""Xero's webhook events, handled from the inbox: an event re-reads the invoice it names,
and with it the invoices of every other Xero event waiting, 50 per call (hundreds of "Pay
now" webhooks cost a few calls, not two each).

Events about invoices the portal already holds as paid by its own payments, each in Xero
already or being written there, are not urgent: nobody waits on them to pay, and they are
Xero echoing the portal's own payment back (every payment the portal writes makes Xero send
one). They are stored held for
``ECHO_HOLD`` and read along with the next event that is read anyway, or on their own once
the hold ends: a change they announce (a payment deleted in Xero) is applied that much
later, never lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billing import inbox, jobs
from billing.db import outside_transaction
from billing.inbox import EventStatus, InboundEvent
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from xero.api.current_connection import latest_connection
from xero.api.errors import XeroError
from xero.models import (
    ConnectionStatus,
    JobKind,
    JobStatus,
    SyncJob,
    XeroConnection,
)
from xero.sync.inbound.reading import _reread
from xero.sync.inbound.rules import PortalPushInProgress, _links

if TYPE_CHECKING:
    from xero.integration import XeroIntegration

log = logging.getLogger(__name__)


PROVIDER = "xero"


#: Other stored Xero events whose invoices one event's handler reads along with its own.
EVENTS_PER_READ = 500

#: How long an event about an invoice the portal holds as paid may wait for a read that is
#: made anyway (see the module's docstring).
ECHO_HOLD = timedelta(seconds=10)


def hold_until(db: Session, category: str, resource_id: str, now: datetime) -> datetime | None:
    """When a just received event may wait until (None: handle it at once): an event about
    an invoice the portal holds as paid, by its own payments only, each of them in Xero
    already or being written there now, waits ``ECHO_HOLD``: it is Xero echoing them. (A
    payment made in Xero, or one of the portal's not sent yet, makes the event news: an
    invoice paid twice, say, is read at once.)"""
    if category.upper() != "INVOICE" or not resource_id:
        return None
    link = _links(db, [resource_id]).get(resource_id.lower())
    if link is None:
        return None
    status = db.scalar(select(Invoice.status).where(Invoice.id == link.invoice_id))
    if status != InvoiceStatus.PAID:
        return None
    payments = db.scalars(
        select(Payment).where(Payment.invoice_id == link.invoice_id, Payment.reversed_at.is_(None))
    ).all()
    if any(p.source != PaymentSource.PORTAL for p in payments):
        return None
    unsent = [p.id for p in payments if not p.xero_payment_id]
    if unsent:
        # Done counts too: on PostgreSQL the worker may commit between the read of the
        # payments above and this one (READ COMMITTED: each statement sees the latest
        # commit), and then the job is done and the payment in Xero.
        being_sent = set(
            db.scalars(
                select(SyncJob.object_id).where(
                    SyncJob.kind == JobKind.PAYMENT,
                    SyncJob.status.in_((JobStatus.RUNNING, JobStatus.DONE)),
                    SyncJob.object_id.in_(unsent),
                )
            )
        )
        if set(unsent) - being_sent:
            return None
    return now + ECHO_HOLD


def _event_invoice(connection: XeroConnection | None, data: dict[str, Any]) -> str | None:
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


def handle_event(service: XeroIntegration, db: Session, event: InboundEvent) -> None:
    """The inbox handler for Xero events: re-read the invoice the event names, and with it
    the invoices of every other Xero event waiting in the inbox, 50 per call (hundreds of
    "Pay now" webhooks cost a few calls, not two each).

    The others are claimed and marked done here; those another round already claimed (the
    inbox hands them over one by one) get ``processed_at``: covered by a read made after they
    arrived, their own turn finds nothing to do. An invoice that could not be read, or must
    wait for a portal push, leaves its other events to be handled on their own."""
    if event.processed_at is not None:
        return  # covered by another event's read of its invoice, made after it arrived
    connection = latest_connection(db)
    mine = _event_invoice(connection, event.data())
    if mine is None:
        return
    moment = service.clock()
    others = _other_events(db, connection, event.id, moment)
    outside_transaction(db)  # the claims stand even if this event fails
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
                other.status = EventStatus.PENDING if blocked else EventStatus.DONE
                other.processed_at = None if blocked else now
            elif not blocked:
                other.processed_at = now
    if mine in failed or mine in waiting:
        outside_transaction(db)  # what was applied, and the others' outcome
        if mine in failed:
            raise failed[mine]
        raise PortalPushInProgress("a portal payment on this invoice is being sent to Xero")


def _release(db: Session, event_ids: list[int]) -> None:
    """Give claimed events back, due at once, to be handled on their own."""
    if event_ids:
        for other in db.scalars(select(InboundEvent).where(InboundEvent.id.in_(event_ids))):
            other.status = EventStatus.PENDING
            other.locked_until = None
        outside_transaction(db)


def _other_events(
    db: Session, connection: XeroConnection | None, event_id: int, moment: datetime
) -> dict[int, tuple[str | None, bool]]:
    """Xero events due, held (``hold_until``: never tried yet, waiting for a read) or being
    handled, but this one: event id -> (invoice to re-read, whether claimed here). Due and
    held ones are claimed for the read."""
    found: dict[int, tuple[str | None, bool]] = {}
    rows = jobs.lock(
        db,
        select(InboundEvent)
        .where(
            InboundEvent.provider == PROVIDER,
            InboundEvent.id != event_id,
            or_(
                and_(
                    InboundEvent.status == EventStatus.PENDING,
                    or_(InboundEvent.next_attempt_at <= moment, InboundEvent.attempts == 0),
                ),
                InboundEvent.status == EventStatus.RUNNING,
            ),
        )
        .order_by(InboundEvent.id)
        .limit(EVENTS_PER_READ),
    )
    for other in rows:
        claim = other.status == EventStatus.PENDING or (
            other.locked_until is not None and other.locked_until < moment
        )
        if claim:
            jobs.take([other], moment, inbox.LEASE)
        found[other.id] = (_event_invoice(connection, other.data()), claim)
    return found


def register(handlers: inbox.Handlers, service: XeroIntegration) -> None:
    """Hand the application's stored Xero events to ``handle_event`` (the job runner's
    wiring calls this)."""
    handlers.register(PROVIDER, lambda db, event: handle_event(service, db, event))
