"""The pages_20k datasets, built with the portal's own operations and cached between runs.

Two sizes with the same shape per customer (ten invoices of three lines each, half of them
paid), so a page that only shows one customer's data should cost the same at both:

- S: 20 customers, 200 invoices, 600 lines, 100 payments, 252 sync jobs;
- L: 2,000 customers, 20,000 invoices, 60,000 lines, 10,000 payments, 25,200 sync jobs.

Invoices are written by ``create_draft`` + ``issue_invoice`` and payments by
``record_payment`` in one session with the outbox subscribed to its bus, so the outbox
writes its jobs as it does in production: one per issued invoice, one per portal payment
(32 % of them; the rest are payments made in Xero, which write none), and one contact job
per customer (``outbox.enqueue``): 20,000 + 3,200 + 2,000 = 25,200 at L. Then, standing
in for a worker that has synced everything, every job is marked done with one ``ok``
attempt, every customer, invoice and portal payment gets its Xero id: the state of a portal
that has been running with Xero for a year. The portal itself is left disconnected from Xero
(no connection row): the pages measured read only the database.

Logins: an admin, and a member for every customer at S, for the measured customer at L
(the customer in the middle of the list), all with one password hashed once.

A built database is kept under ``/tmp/bench-pages-cache`` (SQLite: a file; PostgreSQL: a
template database) named by the size and a hash of this module's source. Each run works on
a copy, upgraded to the newest migration first (so indexes added since still apply).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import create_engine, insert, literal, make_url, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from billing.customers import Customer, CustomerDetails, create_customer
from billing.events import EventBus
from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
from billing.invoices.operations import DraftDetails, DraftLine, create_draft, issue_invoice
from billing.payments.operations import record_payment
from billing.services import ServiceDetails, add_tax_rate, create_service
from billing.tax import LineAmountType
from billing.users import Role, User
from portal import migrations
from portal.db import make_engine
from xero.models import JobKind, JobStatus, SyncAttempt, SyncJob, XeroInvoiceLink
from xero.sync import outbox

CACHE_DIR = Path("/tmp/bench-pages-cache")  # noqa: S108 - a benchmark's cache, rebuilt at will
PASSWORD = "bench-pages-password"  # noqa: S105 - a benchmark's throwaway logins
ADMIN_EMAIL = "admin@bench.example"
#: Commit (and forget the session's objects) every this many invoices or payments: the
#: session's identity map would otherwise grow to 80,000 objects, and each autoflush
#: checks every one of them.
BATCH = 250
#: Of every 25 payments, this many were taken by the portal (card): 32 %.
PORTAL_PAYMENTS_OF_25 = 8
LAST_ISSUE_DATE = date(2026, 11, 30)
#: While building only: every lock on an invoice re-reads its lines, and without an index
#: on invoice_lines.invoice_id (issue 10) each of those scans every line written so far,
#: which makes building L quadratic. Dropped before the database is used, so the pages are
#: measured with the portal's own indexes only.
BUILD_INDEX_NAME = "bench_build_invoice_lines_invoice"
BUILD_INDEX = f"CREATE INDEX IF NOT EXISTS {BUILD_INDEX_NAME} ON invoice_lines (invoice_id)"


@dataclass(frozen=True)
class Size:
    name: str
    customers: int
    invoices: int
    payments: int
    lines_per_invoice: int = 3

    @property
    def portal_payments(self) -> int:
        return sum(1 for k in range(self.payments) if k % 25 < PORTAL_PAYMENTS_OF_25)

    @property
    def sync_jobs(self) -> int:
        return self.invoices + self.portal_payments + self.customers

    @property
    def measured_customer(self) -> int:
        """Index of the customer whose member is measured: the one in the middle."""
        return self.customers // 2


S = Size("s", customers=20, invoices=200, payments=100)
L = Size("l", customers=2000, invoices=20000, payments=10000)


@dataclass(frozen=True)
class Landmarks:
    """What the pages are measured on, found in a built database."""

    admin_email: str
    member_email: str
    customer_id: int
    customer_name: str
    #: One of the measured customer's invoices that is paid (it has a payment).
    invoice_id: int
    payment_id: int


def member_email(n: int) -> str:
    return f"member{n:05d}@customer{n:05d}.example"


def customer_name(n: int) -> str:
    return f"Bench Studio {n:05d} Ltd"


# -- building --------------------------------------------------------------------------------


def build(url: str, size: Size, log: Callable[[str], None] = print) -> None:
    """Migrate an empty database at ``url`` and fill it with ``size``'s data."""
    started = time.perf_counter()
    migrations.upgrade(url)
    engine = make_engine(url)
    bus = EventBus()
    outbox.register(bus)
    factory = sessionmaker(engine, expire_on_commit=False, info=bus.session_info())
    password_hash = PasswordHasher().hash(PASSWORD)

    def progress(what: str) -> None:
        log(f"  [{size.name}] {what} ({time.perf_counter() - started:.0f} s)")

    try:
        with engine.begin() as connection:
            connection.execute(text(BUILD_INDEX))
        with factory() as db:
            services = _services(db)
            customers = _customers(db, size, password_hash)
            db.commit()
            progress(f"{size.customers} customers")
            invoice_ids = _invoices(db, size, customers, services)
            progress(f"{size.invoices} invoices")
            _payments(db, size, invoice_ids)
            progress(f"{size.payments} payments")
            for customer_id in customers:
                outbox.enqueue(db, JobKind.CONTACT, customer_id)
            db.commit()
            _as_if_synced(db)
            db.commit()
        with engine.begin() as connection:
            connection.execute(text(f"DROP INDEX {BUILD_INDEX_NAME}"))
        if engine.dialect.name == "postgresql":
            # What autovacuum would have done by now on a portal this size; the template's
            # statistics are copied with it. (SQLite keeps none unless ANALYZE is run,
            # which a portal never does.)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    progress("built")


def _services(db: Session) -> list[int]:
    standard = add_tax_rate(db, "Standard", Decimal("20"))
    ids = []
    for code, name, price in (
        ("DESK", "Hot desk (day)", "24.95"),
        ("ROOM", "Meeting room (hour)", "12.3750"),
        ("MEMB", "Resident membership (month)", "310.00"),
    ):
        service = create_service(
            db,
            ServiceDetails(
                code=code,
                name=name,
                unit_price=Decimal(price),
                currency="GBP",
                sales_account_code="200",
                tax_rate_id=standard.id,
            ),
        )
        ids.append(service.id)
    return ids


def _customers(db: Session, size: Size, password_hash: str) -> list[int]:
    db.add(
        User(email=ADMIN_EMAIL, name="Bench Admin", password_hash=password_hash, role=Role.ADMIN)
    )
    ids = []
    for n in range(size.customers):
        customer = create_customer(
            db,
            CustomerDetails(
                name=customer_name(n),
                contact_name=f"Accounts {n:05d}",
                email=f"accounts@customer{n:05d}.example",
                phone=f"+44 20 7946 {n % 10000:04d}",
                address=f"{n} Station Road\nLondon",
                ledger_code=f"C{n:05d}",
            ),
        )
        ids.append(customer.id)
        if size is S or n == size.measured_customer:
            db.add(
                User(
                    email=member_email(n),
                    name=f"Member {n:05d}",
                    password_hash=password_hash,
                    role=Role.MEMBER,
                    customer_id=customer.id,
                )
            )
    db.flush()
    return ids


def _invoices(db: Session, size: Size, customers: list[int], services: list[int]) -> list[int]:
    ids = []
    prices = (Decimal("24.95"), Decimal("12.3750"), Decimal("310.00"))
    for i in range(size.invoices):
        # Spread over the year before LAST_ISSUE_DATE, oldest first.
        issue_date = LAST_ISSUE_DATE - timedelta(
            days=(size.invoices - 1 - i) * 365 // size.invoices
        )
        lines = [
            DraftLine(
                service_id,
                f"Line {position} of invoice {i}",
                Decimal(1 + (i + position) % 9),
                prices[(position - 1) % len(prices)],
            )
            for position, service_id in enumerate(services[: size.lines_per_invoice], start=1)
        ]
        draft = create_draft(
            db,
            DraftDetails(
                customer_id=customers[i % len(customers)],
                currency="GBP",
                line_amount_type=LineAmountType.EXCLUSIVE,
                issue_date=issue_date,
                lines=lines,
                reference=f"Membership {issue_date:%B %Y}",
            ),
        )
        invoice = issue_invoice(db, draft, prefix="INV-", today=issue_date)
        ids.append(invoice.id)
        if (i + 1) % BATCH == 0:
            db.commit()
            db.expunge_all()
    db.commit()
    db.expunge_all()
    return ids


def _payments(db: Session, size: Size, invoice_ids: list[int]) -> None:
    """Every other invoice paid in full, the first ``payments`` of them."""
    for k in range(size.payments):
        invoice = db.get(Invoice, invoice_ids[2 * k])
        assert invoice is not None
        from_portal = k % 25 < PORTAL_PAYMENTS_OF_25
        record_payment(
            db,
            invoice,
            amount=invoice.total,
            paid_on=invoice.issue_date + timedelta(days=3 + k % 10),
            method="card" if from_portal else "Stripe via Xero",
            reference=f"Payment {k}",
            source=PaymentSource.PORTAL if from_portal else PaymentSource.XERO,
            xero_payment_id=None if from_portal else str(uuid.UUID(int=k + 1)),
        )
        if (k + 1) % BATCH == 0:
            db.commit()
            db.expunge_all()
    db.commit()
    db.expunge_all()


def _as_if_synced(db: Session) -> None:
    """What the worker would have written once every job went through."""
    now = datetime.now(UTC)
    db.execute(
        update(SyncJob).values(status=JobStatus.DONE, attempts=1, updated_at=now, locked_until=None)
    )
    db.execute(
        insert(SyncAttempt).from_select(
            ["job_id", "at", "outcome", "message"],
            select(SyncJob.id, SyncJob.updated_at, literal("ok"), literal("")),
        )
    )
    customer_ids = db.scalars(select(Customer.id)).all()
    db.execute(
        update(Customer),
        [
            {"id": cid, "xero_contact_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"c{cid}"))}
            for cid in customer_ids
        ],
    )
    invoices = db.execute(select(Invoice.id, Invoice.status)).all()
    db.execute(
        insert(XeroInvoiceLink),
        [
            {
                "invoice_id": iid,
                "xero_invoice_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"i{iid}")),
                "xero_status": "PAID" if status == InvoiceStatus.PAID else "AUTHORISED",
                "synced_at": now,
            }
            for iid, status in invoices
        ],
    )
    portal_payments = db.scalars(
        select(Payment.id).where(Payment.source == PaymentSource.PORTAL)
    ).all()
    db.execute(
        update(Payment),
        [
            {"id": pid, "xero_payment_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"p{pid}"))}
            for pid in portal_payments
        ],
    )


def check(url: str, size: Size) -> list[str]:
    """What a built database must hold; empty when it does."""
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            counts = {
                "customers": db.scalar(text("SELECT count(*) FROM customers")),
                "invoices": db.scalar(text("SELECT count(*) FROM invoices")),
                "lines": db.scalar(text("SELECT count(*) FROM invoice_lines")),
                "payments": db.scalar(text("SELECT count(*) FROM payments")),
                "sync jobs": db.scalar(text("SELECT count(*) FROM xero_sync_jobs")),
                "jobs not done": db.scalar(
                    text("SELECT count(*) FROM xero_sync_jobs WHERE status != 'done'")
                ),
            }
    finally:
        engine.dispose()
    expected = {
        "customers": size.customers,
        "invoices": size.invoices,
        "lines": size.invoices * size.lines_per_invoice,
        "payments": size.payments,
        "sync jobs": size.sync_jobs,
        "jobs not done": 0,
    }
    return [f"{k}: {counts[k]}, expected {v}" for k, v in expected.items() if counts[k] != v]


def landmarks(url: str, size: Size) -> Landmarks:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            email = member_email(size.measured_customer)
            member = db.scalar(select(User).where(User.email == email))
            assert member is not None and member.customer_id is not None
            customer = db.get(Customer, member.customer_id)
            assert customer is not None
            payment = db.scalar(
                select(Payment)
                .join(Payment.invoice)
                .where(Invoice.customer_id == customer.id)
                .order_by(Payment.id)
                .limit(1)
            )
            assert payment is not None
            return Landmarks(
                ADMIN_EMAIL, email, customer.id, customer.name, payment.invoice_id, payment.id
            )
    finally:
        engine.dispose()


# -- caching ---------------------------------------------------------------------------------


def source_hash() -> str:
    """Of this module, which decides what a built database holds. The portal's own code
    is not in it: a copy is upgraded to the newest migration before use (as a deployment
    would be), so indexes added since the cache was built still apply."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _admin_engine(base_url: str) -> Engine:
    url = make_url(base_url).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def prepare(
    size: Size, base_url: str | None, log: Callable[[str], None] = print
) -> tuple[str, bool]:
    """A fresh working copy of ``size``'s dataset: its URL, and whether the cache served it.

    ``base_url``: a PostgreSQL URL (its server is used, its database is not touched), or
    None for SQLite files under the cache directory."""
    key = f"{size.name}_{source_hash()}"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    if base_url is None:
        url, hit = _sqlite_copy(size, key, log)
    else:
        url, hit = _postgres_copy(size, key, base_url, log)
    # Migrations added since the cache was built (indexes) apply to the copy.
    migrations.upgrade(url)
    problems = check(url, size)
    if problems:
        raise RuntimeError(f"the {size.name.upper()} dataset is wrong: " + "; ".join(problems))
    return url, hit


def drop_working_copy(size: Size, base_url: str | None) -> None:
    if base_url is None:
        return
    admin = _admin_engine(base_url)
    try:
        with admin.connect() as connection:
            connection.execute(
                text(f'DROP DATABASE IF EXISTS "bench_pages_{size.name}" WITH (FORCE)')
            )
    finally:
        admin.dispose()


def _with_database(base_url: str, name: str) -> str:
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _sqlite_copy(size: Size, key: str, log: Callable[[str], None]) -> tuple[str, bool]:
    cached = CACHE_DIR / f"{key}.db"
    hit = cached.exists()
    if not hit:
        # Datasets an older builder made are no use any more.
        for stale in CACHE_DIR.glob(f"{size.name}_*.db"):
            stale.unlink()
        building = CACHE_DIR / f"{key}.building.db"
        build(f"sqlite:///{building}", size, log)
        building.rename(cached)
    work = CACHE_DIR / f"bench_pages_{size.name}.db"
    for leftover in (work, Path(f"{work}-wal"), Path(f"{work}-shm"), Path(f"{work}-journal")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(cached, work)
    return f"sqlite:///{work}", hit


def _postgres_copy(
    size: Size, key: str, base_url: str, log: Callable[[str], None]
) -> tuple[str, bool]:
    """The built database is a template; the working copy is made from it each run."""
    template = f"bench_pages_{key}"
    working = f"bench_pages_{size.name}"
    admin = _admin_engine(base_url)
    try:
        with admin.connect() as connection:
            hit = bool(
                connection.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": template}
                )
            )
        if not hit:
            building = f"{template}_building"
            with admin.connect() as connection:
                # Datasets an older builder made are no use any more.
                names = connection.scalars(text("SELECT datname FROM pg_database")).all()
                for stale in names:
                    if re.fullmatch(f"bench_pages_{size.name}_[0-9a-f]{{12}}(_building)?", stale):
                        connection.execute(text(f'DROP DATABASE "{stale}" WITH (FORCE)'))
                connection.execute(text(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{building}"'))
            build(_with_database(base_url, building), size, log)
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{template}"'))
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{working}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{working}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
    return _with_database(base_url, working), hit
