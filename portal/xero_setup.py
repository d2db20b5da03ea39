"""Wiring Xero into the portal: the XeroIntegration built from settings, the outbox
subscriptions, and in demo mode the built-in sandbox (already connected) and a worker
thread, so an issued invoice shows up in the sandbox within seconds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask, current_app
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from billing.services import TaxRate
from xero.api.connection import Tenant, connect
from xero.api.endpoints import XeroEndpoints
from xero.api.tokens import OAuthApp
from xero.integration import XeroIntegration
from xero.models import TaxRateMapping, XeroConnection, XeroSettings
from xero.sync import outbox

log = logging.getLogger(__name__)
DEMO_CLIENT_ID = "DEMOPORTALCLIENT"
DEMO_CLIENT_SECRET = "demo-portal-client-secret"  # noqa: S105 - the local sandbox's demo app


def init_app(app: Flask) -> None:
    outbox.register(app.extensions["event_bus"])
    _build_service(app)
    if app.config["XERO_WORKER_THREAD"]:
        from portal.worker import start_worker_thread

        start_worker_thread(app)


def _build_service(app: Flask) -> None:
    base = app.config["XERO_BASE_URL"]
    endpoints = XeroEndpoints.sandbox(base) if base else XeroEndpoints.xero()
    oauth = OAuthApp(
        app.config["XERO_CLIENT_ID"],
        app.config["XERO_CLIENT_SECRET"],
        app.config["XERO_REDIRECT_URI"],
        endpoints,
    )
    factory: Callable[[], Session] = app.extensions["db_session_factory"]
    engine: Engine | None = app.extensions.get("db_engine")
    # The worker needs sessions of its own (it commits per batch), never the request's.
    worker_sessions = (
        sessionmaker(
            engine, expire_on_commit=False, info=app.extensions["event_bus"].session_info()
        )
        if engine
        else factory
    )
    app.extensions["xero"] = XeroIntegration(oauth, app.extensions["secret_box"], worker_sessions)


def xero_integration() -> XeroIntegration:
    service: XeroIntegration = current_app.extensions["xero"]
    return service


def start_demo_sandbox(app: Flask, portal_port: int) -> str:
    """Serve the sandbox on 127.0.0.1:XERO_SANDBOX_PORT with a UK organisation that has a
    Stripe payment service, register the portal as its app, point the portal at it, and
    subscribe the portal's /webhooks/xero to its webhooks."""
    import secrets

    from xero_sandbox import Sandbox, create_sandbox_app, serve_in_thread

    # The sandbox sends Xero's signed webhooks to this portal, with the key it checks.
    if not app.config.get("XERO_WEBHOOK_KEY"):
        app.config["XERO_WEBHOOK_KEY"] = secrets.token_urlsafe(32)
    sandbox = Sandbox(
        webhook_url=f"http://127.0.0.1:{portal_port}/webhooks/xero",
        webhook_key=app.config["XERO_WEBHOOK_KEY"],
    )
    org = sandbox.add_organisation("Demo Coworking Ltd", country="GB")
    theme = next(iter(org.branding_themes.values()))
    if not theme.payment_services:
        sandbox.attach_payment_service(org.tenant_id, theme.branding_theme_id, "Stripe")
    port = app.config["XERO_SANDBOX_PORT"]
    base_url, stop = serve_in_thread(create_sandbox_app(sandbox), port=port)
    app.extensions["xero_sandbox_stop"] = stop  # for tests that serve the demo wiring
    sandbox.register_client(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        redirect_uris=[f"http://127.0.0.1:{portal_port}/admin/xero/callback"],
        name="Members portal (demo)",
    )
    app.config.update(
        # Fixed, so opening the demo as localhost still returns to the registered URI.
        XERO_REDIRECT_URI=f"http://127.0.0.1:{portal_port}/admin/xero/callback",
        XERO_BASE_URL=base_url,
        XERO_CLIENT_ID=DEMO_CLIENT_ID,
        XERO_CLIENT_SECRET=DEMO_CLIENT_SECRET,
    )
    app.extensions["xero_sandbox"] = sandbox
    _build_service(app)
    return base_url


def connect_demo(db: Session, app: Flask, user_id: int | None) -> XeroConnection:
    """Connect the portal to the demo sandbox without a browser, as if an admin consented,
    with settings and tax mappings prefilled. Idempotent."""
    sandbox = app.extensions["xero_sandbox"]
    org = next(iter(sandbox.organisations.values()))
    client = sandbox.identity.clients[DEMO_CLIENT_ID]
    token = sandbox.connect([org.tenant_id], client=client).token
    # The same operation as an admin's consent: earlier connections are retired.
    connection = connect(
        db,
        app.extensions["secret_box"],
        token,
        Tenant(org.tenant_id, org.name, ""),
        user_id,
        datetime.now(UTC),
    )
    if db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == org.tenant_id)) is None:
        theme = next(iter(org.branding_themes.values()))
        db.add(
            XeroSettings(
                tenant_id=org.tenant_id,
                country=org.country_code,
                base_currency=org.base_currency,
                default_sales_account="200",
                payments_account="090",
                branding_theme_id=theme.branding_theme_id,
                branding_theme_has_payment_service=bool(theme.payment_services),
            )
        )
    defaults = {Decimal("20"): "OUTPUT2", Decimal("5"): "RROUTPUT", Decimal("0"): "ZERORATEDOUTPUT"}
    mapped = set(db.scalars(select(TaxRateMapping.tax_rate_id)))
    for rate in db.scalars(select(TaxRate)):
        if rate.id not in mapped:
            tax_type = "EXEMPTOUTPUT" if rate.name == "Exempt" else defaults.get(rate.rate_percent)
            if tax_type:
                db.add(TaxRateMapping(tax_rate_id=rate.id, tax_type=tax_type))
    db.flush()
    _resync_everything(db)
    return connection


def _resync_everything(db: Session) -> None:
    """The demo sandbox starts empty on every run: forget old Xero links and send every
    unpaid or paid invoice and the portal's own payments again (look-ups make this safe)."""
    from sqlalchemy import delete, update

    from billing.customers import Customer
    from billing.invoices.model import Invoice, InvoiceStatus, Payment, PaymentSource
    from xero.models import JobKind, SyncJob, XeroInvoiceLink

    db.execute(delete(SyncJob))
    db.execute(delete(XeroInvoiceLink))
    db.execute(update(Customer).values(xero_contact_id=None))
    db.execute(update(Payment).values(xero_payment_id=None))
    in_xero = (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID)
    for invoice_id in db.scalars(select(Invoice.id).where(Invoice.status.in_(in_xero))):
        outbox.enqueue(db, JobKind.INVOICE, invoice_id)
    # Without the portal's payments Xero would ask members for money already paid.
    portal_payments = (
        select(Payment.id)
        .join(Payment.invoice)
        .where(Payment.source == PaymentSource.PORTAL, Invoice.status.in_(in_xero))
    )
    if not outbox.payments_out_enabled(db):
        return
    for payment_id in db.scalars(portal_payments):
        outbox.enqueue(db, JobKind.PAYMENT, payment_id)
