"""SyncEnv with payments: card payments and refunds in the portal, payments made, deleted and
voids in Xero (through the API, as Xero's own screens would), Xero's webhooks handled as in
production, the poller and the job runner."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select, update
from xero_python.accounting import Account, PaymentDelete, Payments
from xero_python.accounting import Invoice as XeroInvoiceModel
from xero_python.accounting import Invoices as XeroInvoices
from xero_python.accounting import Payment as XeroPaymentModel

from billing import inbox
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice, Payment, PaymentSource
from billing.payments.operations import record_payment, record_refund, reverse_payment
from portal.worker import JobRunner
from tests.xero.sync_env import SyncEnv
from xero.api.connection import Tenant, connect
from xero.models import JobKind, SyncJob, XeroSettings
from xero.sync.inbound import events, poller


class PaymentEnv(SyncEnv):
    def __init__(self, served, database_url: str):
        super().__init__(served, database_url)
        self.set_settings(payments_account="090")
        events.register(self.handlers, self.service)

    # -- settings and reads ---------------------------------------------------------------

    def set_settings(self, **values) -> None:
        with self.Session() as db, db.begin():
            db.execute(update(XeroSettings).values(**values))

    def settings(self) -> XeroSettings:
        with self.Session() as db:
            return db.scalar(select(XeroSettings))

    def invoice(self, invoice_id: int) -> Invoice:
        with self.Session() as db:
            return db.get(Invoice, invoice_id)

    def payments(self, invoice_id: int) -> list[Payment]:
        with self.Session() as db:
            return list(
                db.scalars(
                    select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id)
                )
            )

    def payment(self, payment_id: int) -> Payment:
        with self.Session() as db:
            return db.get(Payment, payment_id)

    def payment_jobs(self) -> list[SyncJob]:
        return [j for j in self.jobs() if j.kind == JobKind.PAYMENT]

    def events(self) -> list[InboundEvent]:
        with self.Session() as db:
            return list(db.scalars(select(InboundEvent).order_by(InboundEvent.id)))

    # -- the portal's side ----------------------------------------------------------------

    def issue_in_xero(self, customer_id: int | None = None, quantity: str = "3") -> int:
        """An issued invoice that the worker has sent to Xero."""
        customer_id = customer_id or self.add_customer(name=f"Member {secrets.token_hex(3)}")
        invoice_id = self.issue(customer_id, quantity=quantity)
        self.drain_all()
        assert self.link(invoice_id).xero_invoice_id
        return invoice_id

    def card_payment(
        self, invoice_id: int, amount: str | Decimal | None = None, *, paid_on=date(2026, 11, 5)
    ) -> int:
        """A card payment the portal took (its gateway ids become the Xero Reference)."""
        token = secrets.token_hex(8)
        with self.Session() as db, db.begin():
            invoice = db.get(Invoice, invoice_id)
            payment = record_payment(
                db,
                invoice,
                amount=Decimal(amount) if amount is not None else invoice.amount_due,
                paid_on=paid_on,
                method="card",
                reference=f"ch_{token}",
                source=PaymentSource.PORTAL,
                gateway_payment_id=f"pi_{token}",
                gateway_charge_id=f"ch_{token}",
            )
            return payment.id

    def refund(self, payment_id: int, refunded_total: str) -> None:
        with self.Session() as db, db.begin():
            record_refund(db, db.get(Payment, payment_id), Decimal(refunded_total))

    def reverse(self, payment_id: int) -> None:
        with self.Session() as db, db.begin():
            reverse_payment(db, db.get(Payment, payment_id))

    # -- Xero's side ----------------------------------------------------------------------

    def xero_invoice_of(self, invoice_id: int):
        return self.org.invoices[self.link(invoice_id).xero_invoice_id.lower()]

    def xero_payments_of(self, invoice_id: int, status: str | None = "AUTHORISED") -> list:
        invoice = self.xero_invoice_of(invoice_id)
        found = [self.org.payments[p] for p in invoice.payment_ids]
        return [p for p in found if status is None or p.status == status]

    def pay_in_xero(self, invoice_id: int, amount: str, reference: str = "bank rec") -> str:
        """A payment entered in Xero (bank reconciliation, by hand); returns its PaymentID."""
        api = self.api()
        answer = api._send(
            api.accounting.create_payments,
            Payments(
                payments=[
                    XeroPaymentModel(
                        invoice=XeroInvoiceModel(invoice_id=self.link(invoice_id).xero_invoice_id),
                        account=Account(code="090"),
                        amount=Decimal(amount),
                        date=date(2026, 11, 6),
                        reference=reference,
                    )
                ]
            ),
            write=True,
        )
        return str(answer.payments[0].payment_id)

    def delete_in_xero(self, xero_payment_id: str) -> None:
        api = self.api()
        api._send(
            api.accounting.delete_payment,
            xero_payment_id,
            PaymentDelete(status="DELETED"),
            write=True,
        )

    def void_in_xero(self, invoice_id: int) -> None:
        api = self.api()
        api._send(
            api.accounting.update_invoice,
            self.link(invoice_id).xero_invoice_id,
            XeroInvoices(invoices=[XeroInvoiceModel(status="VOIDED")]),
            write=True,
        )

    # -- inbound --------------------------------------------------------------------------

    def handle_webhooks(self) -> int:
        """What production does with Xero's webhooks (``portal_webhooks`` subscribes the
        portal): every delivery the sandbox has made reached POST /webhooks/xero, which
        stored its events; the job runner's inbox step (JobRunner.run_once) handles them,
        those held as echoes of the portal's own payments too (the runner takes them
        within ``events.ECHO_HOLD``). Returns how many events were handled."""
        assert self.sandbox.webhooks.wait(5)
        assert [d.error for d in self.sandbox.webhooks.deliveries if d.status != 200] == []
        return inbox.process_due(
            self.service.session_factory,
            self.handlers,
            now=lambda: self.service.clock() + events.ECHO_HOLD,
        )

    def switch_organisation(self, name: str = "Other Coworking Ltd") -> None:
        """An admin connects the portal to another organisation. The app stays connected
        to the first one in Xero, whose webhooks still come."""
        other = self.sandbox.add_organisation(name, country="GB")
        token = self.sandbox.connect([other.tenant_id], client=self.client).token
        with self.Session() as db, db.begin():
            tenant = Tenant(other.tenant_id, other.name, "")
            connect(db, self.box, token, tenant, None, datetime.now(UTC))

    def pull(self, **options) -> int:
        return poller.pull(self.service, **options)

    def runner(self) -> JobRunner:
        return JobRunner(self.service, self.handlers, pull=poller.puller(self.service))
