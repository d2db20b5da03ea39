"""A portal database wired to a served sandbox, for tests of the sync worker.

The worker commits for real (it is the job runner), so these tests get a database of their
own rather than the per-test transaction, and a clock they move by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from billing import inbox
from billing.customers import Customer, CustomerDetails, create_customer, update_customer
from billing.encryption import SecretBox
from billing.events import EventBus
from billing.invoices.model import Invoice
from billing.invoices.operations import (
    DraftDetails,
    DraftLine,
    create_draft,
    issue_invoice,
    void_invoice,
)
from billing.services import Service, add_tax_rate
from billing.tax import LineAmountType
from portal import migrations
from portal.db import make_engine
from tests.factories import add_service
from xero.api.client import XeroApi
from xero.api.connection import Tenant, connect
from xero.api.endpoints import XeroEndpoints
from xero.api.tokens import OAuthApp, store_tokens
from xero.integration import XeroIntegration
from xero.models import (
    ConnectionStatus,
    JobStatus,
    SyncJob,
    TaxRateMapping,
    XeroConnection,
    XeroInvoiceLink,
    XeroSettings,
)
from xero.sync import outbox
from xero.sync.worker import SyncWorker, WorkerConfig
from xero_sandbox.state import Contact as XeroContact
from xero_sandbox.state import new_id

REDIRECT_URI = "http://127.0.0.1/xero/callback"


@dataclass
class Clock:
    """Real time plus however far a test has moved it (rows get real-time defaults)."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class SyncEnv:
    def __init__(self, served, database_url: str):
        self.database_url = database_url
        self.served = served
        self.sandbox = served.sandbox
        self.org = served.org
        self.engine = make_engine(database_url)
        migrations.upgrade(database_url)
        # This composition's registries: issuing an invoice writes its sync job only with
        # the outbox subscribed to the bus its sessions publish to.
        self.bus = EventBus()
        outbox.register(self.bus)
        self.handlers = inbox.Handlers()
        self.Session = sessionmaker(
            self.engine, expire_on_commit=False, info=self.bus.session_info()
        )
        self.clock = Clock()
        self.client = self.sandbox.register_client(redirect_uris=[REDIRECT_URI])
        self.fernet_key = Fernet.generate_key().decode()
        self.box = SecretBox(self.fernet_key)
        self.oauth = OAuthApp(
            self.client.client_id,
            self.client.client_secret,
            REDIRECT_URI,
            XeroEndpoints.sandbox(served.url),
        )
        self.service = XeroIntegration(
            self.oauth, self.box, self.Session, clock=self.clock, timeout=(2, 5)
        )
        self._connect()

    def _connect(self) -> None:
        token = self.sandbox.connect([self.org.tenant_id], client=self.client).token
        with self.Session() as db, db.begin():
            tenant = Tenant(self.org.tenant_id, self.org.name, "")
            # Real time here: the sandbox judges token expiry by its own clock.
            connect(db, self.box, token, tenant, None, datetime.now(UTC))
            db.add(XeroSettings(tenant_id=self.org.tenant_id, country="GB", base_currency="GBP"))
            standard = add_tax_rate(db, "Standard", Decimal("20"))
            zero = add_tax_rate(db, "Zero rated", Decimal("0"))
            db.add(TaxRateMapping(tax_rate_id=standard.id, tax_type="OUTPUT2"))
            db.add(TaxRateMapping(tax_rate_id=zero.id, tax_type="ZERORATEDOUTPUT"))
            self.desk_id = add_service(
                db, rate=standard, code="DESK", name="Hot desk", unit_price=Decimal("24.95")
            ).id

    def worker(self, **config):
        return self.service.worker(WorkerConfig(**config) if config else None)

    def add_service(self, **details) -> int:
        with self.Session() as db, db.begin():
            return add_service(db, **{"name": "X", "unit_price": Decimal("10"), **details}).id

    def add_customer(self, **details) -> int:
        with self.Session() as db, db.begin():
            customer = create_customer(db, CustomerDetails(**details))
            return customer.id

    def issue(self, customer_id: int, quantity: str = "3", service_id: int | None = None) -> int:
        with self.Session() as db, db.begin():
            service = db.get(Service, service_id or self.desk_id)
            draft = create_draft(
                db,
                DraftDetails(
                    customer_id=customer_id,
                    currency="GBP",
                    line_amount_type=LineAmountType.EXCLUSIVE,
                    issue_date=date(2026, 11, 2),
                    lines=[
                        DraftLine(service.id, service.name, Decimal(quantity), service.unit_price)
                    ],
                ),
            )
            issue_invoice(db, draft, prefix="INV-", today=date(2026, 11, 2))
            return draft.id

    def jobs(self) -> list[SyncJob]:
        with self.Session() as db:
            return list(db.scalars(select(SyncJob).order_by(SyncJob.id)))

    def link(self, invoice_id: int) -> XeroInvoiceLink | None:
        with self.Session() as db:
            return db.get(XeroInvoiceLink, invoice_id)

    def customer(self, customer_id: int) -> Customer:
        with self.Session() as db:
            return db.get(Customer, customer_id)

    def xero_invoices(self) -> list:
        return list(self.org.invoices.values())

    def xero_contacts(self) -> list:
        return list(self.org.contacts.values())

    def pending(self) -> list[SyncJob]:
        return [j for j in self.jobs() if j.status not in (JobStatus.DONE, JobStatus.IGNORED)]

    # -- more helpers: Xero-side seeds, customer edits, the connection, draining -------

    def add_xero_contact(
        self, name: str, contact_number: str | None = None, email: str | None = None
    ) -> str:
        """A contact that already exists in Xero (entered there by hand); returns its id."""
        now = self.sandbox.clock.now()
        contact = XeroContact(
            new_id(), name, now, contact_number=contact_number, email_address=email
        )
        with self.sandbox.lock:
            self.org.contacts[contact.contact_id] = contact
        return contact.contact_id

    def xero_contact(self, contact_id: str):
        return self.org.contacts[contact_id.lower()]

    def set_customer(self, customer_id: int, **columns) -> None:
        """Write columns directly (no domain event), e.g. a stored xero_contact_id."""
        with self.Session() as db, db.begin():
            customer = db.get(Customer, customer_id)
            for name, value in columns.items():
                setattr(customer, name, value)

    def set_many_ledger_codes(self, codes: dict[int, str]) -> None:
        with self.Session() as db, db.begin():
            for customer_id, code in codes.items():
                db.get(Customer, customer_id).ledger_code = code

    def edit_customer(self, customer_id: int, **changes) -> None:
        """An admin's edit through the billing service (publishes CUSTOMER_UPDATED)."""
        with self.Session() as db, db.begin():
            customer = db.get(Customer, customer_id)
            details = CustomerDetails(
                name=customer.name,
                contact_name=customer.contact_name,
                email=customer.email,
                phone=customer.phone,
                address=customer.address,
                ledger_code=customer.ledger_code,
                payment_terms_days=customer.payment_terms_days,
            )
            for name, value in changes.items():
                setattr(details, name, value)
            update_customer(db, customer, details)

    def void(self, invoice_id: int) -> None:
        with self.Session() as db, db.begin():
            void_invoice(db, db.get(Invoice, invoice_id))

    def connection(self) -> XeroConnection:
        with self.Session() as db:
            return db.scalar(select(XeroConnection).order_by(XeroConnection.id.desc()).limit(1))

    def update_connection(self, **columns) -> None:
        with self.Session() as db, db.begin():
            connection = db.scalar(
                select(XeroConnection).order_by(XeroConnection.id.desc()).limit(1)
            )
            for name, value in columns.items():
                setattr(connection, name, value)

    def reconnect(self) -> None:
        """An admin connects again: a new consent, new tokens stored, the connection active."""
        token = self.sandbox.connect([self.org.tenant_id], client=self.client).token
        with self.Session() as db, db.begin():
            connection = db.scalar(
                select(XeroConnection).order_by(XeroConnection.id.desc()).limit(1)
            )
            store_tokens(connection, token, self.box, self.clock())
            connection.status = ConnectionStatus.ACTIVE

    def refresh_token(self) -> str:
        return self.box.decrypt(self.connection().refresh_token_encrypted)

    def api(self) -> XeroApi:
        """The portal's own API client (for arranging things in Xero, e.g. a payment)."""
        with self.Session() as db:
            api = self.service.api(db)
            db.commit()
            return api

    def advance(self, seconds: float) -> None:
        """Move the portal's clock and the sandbox's together."""
        self.clock.advance(seconds)
        self.sandbox.advance_clock(seconds)

    def drain_all(self, worker: SyncWorker | None = None, max_rounds: int = 500) -> int:
        """Drain, then move both clocks to the next job that waits (backoff, Retry-After,
        the rate budget) and drain again, until no job is pending or running."""
        worker = worker or self.worker()
        handled = 0
        for _ in range(max_rounds):
            handled += worker.drain()
            waiting = [j for j in self.jobs() if j.status in (JobStatus.PENDING, JobStatus.RUNNING)]
            if not waiting:
                return handled
            now = self.clock()
            due = min(
                j.next_attempt_at if j.status == JobStatus.PENDING else j.locked_until
                for j in waiting
            )
            self.advance(max(1.0, (due - now).total_seconds() + 1))
        raise AssertionError(f"jobs still waiting after {max_rounds} rounds: {waiting}")

    def close(self) -> None:
        self.engine.dispose()
