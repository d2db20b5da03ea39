"""What the portal keeps about Xero: the connection, its settings, the links between local
and Xero objects, the sync outbox and its attempts, the shared rate limiter and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, UTCDateTime, utcnow


class ConnectionStatus(enum.StrEnum):
    ACTIVE = "active"
    #: Xero refused the refresh token (revoked, expired): an admin must connect again.
    RECONNECT_NEEDED = "reconnect_needed"
    #: "Remove integration": tokens revoked and deleted; local data and jobs kept, paused.
    REMOVED = "removed"


class XeroConnection(Base):
    """The one Xero organisation this portal syncs with."""

    __tablename__ = "xero_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    tenant_name: Mapped[str] = mapped_column(String(255))
    #: Xero's id of the app-to-organisation connection (DELETE /connections/{id}).
    connection_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(20), default=ConnectionStatus.ACTIVE)
    #: Encrypted with the portal's secret box; never logged.
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Xero refresh tokens expire 60 days after they were issued unless used.
    refresh_token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scopes: Mapped[str] = mapped_column(Text, default="")
    connected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure: Mapped[str] = mapped_column(Text, default="")

    connected_by = relationship("User")


class XeroSettings(Base):
    """Per-organisation choices an admin makes from lists pulled live from Xero."""

    __tablename__ = "xero_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), unique=True)
    country: Mapped[str] = mapped_column(String(2), default="")
    base_currency: Mapped[str] = mapped_column(String(3), default="")
    default_sales_account: Mapped[str] = mapped_column(String(10), default="")
    #: Bank account (or account with payments enabled) portal payments are recorded to.
    payments_account: Mapped[str] = mapped_column(String(10), default="")
    branding_theme_id: Mapped[str] = mapped_column(String(36), default="")
    #: Whether that theme carries a payment service ("Pay now" on the online invoice).
    branding_theme_has_payment_service: Mapped[bool] = mapped_column(default=False)
    #: One-way: each invoice push renames the Xero contact to the portal's customer name.
    sync_client_names: Mapped[bool] = mapped_column(default=False)
    #: After an invoice reaches Xero: "none", "mark_sent" or "email".
    after_push: Mapped[str] = mapped_column(String(12), default="none")
    #: Record portal payments in Xero (against payments_account).
    sync_payments_out: Mapped[bool] = mapped_column(default=True)
    #: Bring payments made in Xero into the portal (webhooks and the poller).
    sync_payments_in: Mapped[bool] = mapped_column(default=True)
    #: When the last successful pull of changed invoices started (If-Modified-Since).
    last_pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerSnapshot(Base):
    """The organisation's accounts and tax rates as Xero last listed them (on the Xero
    settings page): what a service's sales account and tax rate are checked against when it
    is saved and when its invoice is issued, without calling Xero each time."""

    __tablename__ = "xero_ledger_snapshots"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: JSON lists, in xero.settings.ledger_rules' own shape (not Xero's).
    accounts_json: Mapped[str] = mapped_column(Text, default="[]")
    tax_rates_json: Mapped[str] = mapped_column(Text, default="[]")
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaxRateMapping(Base):
    """Which Xero TaxType a local tax rate becomes."""

    __tablename__ = "xero_tax_rate_mappings"

    tax_rate_id: Mapped[int] = mapped_column(ForeignKey("tax_rates.id"), primary_key=True)
    tax_type: Mapped[str] = mapped_column(String(50))

    tax_rate = relationship("TaxRate")


class XeroInvoiceLink(Base):
    """A local invoice's Xero twin."""

    __tablename__ = "xero_invoice_links"
    __table_args__ = (
        # Xero's invoice ids are matched whatever their case (each webhook and poll).
        Index("ix_xero_invoice_links_xero_id_lower", func.lower(text("xero_invoice_id"))),
    )

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    xero_invoice_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    online_invoice_url: Mapped[str] = mapped_column(Text, default="")
    #: The Xero status last seen (AUTHORISED, PAID, VOIDED, DELETED, DRAFT).
    xero_status: Mapped[str] = mapped_column(String(12), default="")
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobKind(enum.StrEnum):
    CONTACT = "contact"
    INVOICE = "invoice"
    VOID_INVOICE = "void_invoice"
    DELETE_INVOICE = "delete_invoice"
    ONLINE_INVOICE = "online_invoice"
    #: A history note on a Xero contact, saying what the portal created or changed.
    CONTACT_NOTE = "contact_note"
    EMAIL_INVOICE = "email_invoice"
    #: A portal payment to record in Xero (or, once refunded or reversed, to re-state there).
    PAYMENT = "payment"
    #: An overpayment an admin kept as credit, to record on the contact in Xero.
    OVERPAYMENT_CREDIT = "overpayment_credit"
    #: A trial run's test invoice to take back, in Stripe and Xero (xero.sync.trial_cleanup).
    TRIAL_CLEANUP = "trial_cleanup"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    #: Failed too often, or failed in a way retrying cannot fix: an admin decides.
    NEEDS_ATTENTION = "needs_attention"
    IGNORED = "ignored"


_JOB_STATUS_SQL = ", ".join(f"'{status.value}'" for status in JobStatus)


class SyncJob(Base):
    """One logical write to Xero, waiting in the outbox. Jobs carry ids, never objects."""

    __tablename__ = "xero_sync_jobs"
    __table_args__ = (
        Index("ix_xero_sync_jobs_due", "status", "next_attempt_at"),
        Index("ix_xero_sync_jobs_object", "kind", "object_id"),
        # The sync log's filtered pages, newest first, and the worker's retention sweep.
        Index("ix_xero_sync_jobs_status_id", "status", "id"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint(f"status IN ({_JOB_STATUS_SQL})", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: The local invoice or customer id the job writes.
    object_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING)
    #: Sent as Idempotency-Key; stable across the job's attempts, new for each job.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: A claim expires: a worker that died mid-job releases it when this passes.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last attempt's outcome was unknown (time-out, dropped response): look the object
    #: up in Xero before writing again.
    outcome_unknown: Mapped[bool] = mapped_column(default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: What a job needs beyond the object id (a contact note's text).
    payload: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    attempts_log: Mapped[list[SyncAttempt]] = relationship(
        back_populates="job", order_by="SyncAttempt.id", cascade="all, delete-orphan"
    )


class SyncAttempt(Base):
    __tablename__ = "xero_sync_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("xero_sync_jobs.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: ok, retry, rate_limited, failed, unknown
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")

    job: Mapped[SyncJob] = relationship(back_populates="attempts_log")


class RateLimitWindow(Base):
    """One row per organisation: the lock every worker takes before counting a call, and
    the block a 429 puts on the organisation."""

    __tablename__ = "xero_rate_limits"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: Set from a 429's Retry-After: nobody calls this organisation before then.
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class XeroCall(Base):
    """Each call the portal made to an organisation in the last day. Xero's limits are
    rolling windows (60 in any 60 seconds, 5,000 in any 24 hours), so they are counted
    from these, not from fixed windows that would allow 120 calls across a boundary."""

    __tablename__ = "xero_calls"
    __table_args__ = (Index("ix_xero_calls_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Changes an admin made by hand that finance may need to trace later."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")

    user = relationship("User")


class TrialCleanup(Base):
    """An admin asked for a trial run's test invoice to be taken back: its card payments
    refunded in Stripe, its payments deleted in Xero, the invoice voided in Xero and then in
    the portal. The worker carries the steps out in that order (a TRIAL_CLEANUP job); each
    time stamp says a step is done, so the page shows what is still pending."""

    __tablename__ = "trial_cleanups"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Every card payment taken in the portal refunded in Stripe (set at once when none).
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Every payment Xero had on the invoice deleted there.
    xero_payments_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    xero_voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Voided in the portal too: the clean-up is over.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerCheckStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_LEDGER_STATUS_SQL = ", ".join(f"'{s.value}'" for s in LedgerCheckStatus)


class LedgerCheckRun(Base):
    """One run of the ledger check (``xero.admin.ledger_check``), carried out in the
    background a chunk at a time; its progress and its findings are kept, so a run survives
    a restart of the worker and its results can be read later."""

    __tablename__ = "ledger_check_runs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_LEDGER_STATUS_SQL})", name="status_known"),
        CheckConstraint("checked >= 0 AND total >= 0", name="counts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default=LedgerCheckStatus.QUEUED)
    #: True while queued or running, NULL after: unique, so at most one run is under way
    #: (NULLs never clash), whatever two admins or a CLI start at once.
    active: Mapped[bool | None] = mapped_column(unique=True, default=True)
    #: Who started it from the page (NULL: the command line).
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Invoices to check (issued or linked to Xero when the run was queued) and done so far.
    total: Mapped[int] = mapped_column(Integer, default=0)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    #: The last invoice id checked: the next chunk is the 50 invoices after it.
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    #: After the invoices, Xero's invoices of linked contacts: the last customer id done,
    #: and the page of the current 50 customers' invoices to read next.
    contact_cursor: Mapped[int] = mapped_column(Integer, default=0)
    contact_page: Mapped[int] = mapped_column(Integer, default=1)
    #: Every invoice checked: Xero's invoices of linked contacts are being read.
    invoices_done: Mapped[bool] = mapped_column(default=False)
    #: Held by a worker for a chunk until then, or waiting for Xero's rate budget until
    #: then: nobody takes the run before.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Calls Xero did not answer, in a row (the run fails after a few).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")

    started_by = relationship("User")

    @property
    def finished(self) -> bool:
        return self.status in (LedgerCheckStatus.DONE, LedgerCheckStatus.FAILED)


class FindingKind(enum.StrEnum):
    #: A synced invoice that Xero has otherwise (status, money, payments, or not at all).
    MISMATCH = "mismatch"
    #: The portal's own books disagreeing with themselves (billing.invoices.invariants).
    PORTAL = "portal"
    #: An issued invoice that never reached Xero.
    NOT_IN_XERO = "not_in_xero"
    #: An invoice in Xero, for a contact linked to a customer, that the portal does not know.
    UNKNOWN_IN_XERO = "unknown_in_xero"


class LedgerCheckFinding(Base):
    """One thing a ledger-check run found."""

    __tablename__ = "ledger_check_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_check_runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    #: The portal's invoice (NULL for an invoice only Xero has).
    invoice_id: Mapped[int | None] = mapped_column(Integer)
    invoice_number: Mapped[str] = mapped_column(String(255), default="")
    what: Mapped[str] = mapped_column(Text)
    portal: Mapped[str] = mapped_column(Text, default="")
    xero: Mapped[str] = mapped_column(Text, default="")
