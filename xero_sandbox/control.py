"""The sandbox's own control API and pages under /_sandbox/ (not part of Xero).

Lets a test, the benchmark or a person at the demo steer the sandbox over HTTP: add
organisations, attach a payment service to a theme, queue faults or a fault rate, move the
clock, change rate limits, read contract violations, view an online invoice and pay it
("Pay now", in full or in part), read the fees kept as bank transactions, and subscribe an
app to Xero's webhooks (and read what was delivered).
Unauthenticated on purpose: the sandbox only ever listens on loopback.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .errors import json_response
from .paynow import PayNowRefused, parse_amount, pay_now
from .sandbox import Sandbox
from .serialise import invoice_json
from .xerojson import ms_date

bp = Blueprint(
    "xero_sandbox_control", __name__, url_prefix="/_sandbox", template_folder="templates"
)


def _sandbox() -> Sandbox:
    return cast(Sandbox, current_app.extensions["xero_sandbox"])


def _body() -> dict[str, Any]:
    return request.get_json(silent=True) or {}


def _problem(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status=status)


@bp.get("/")
def overview() -> ResponseReturnValue:
    sandbox = _sandbox()
    with sandbox.lock:
        organisations = [
            {
                "tenantId": org.tenant_id,
                "name": org.name,
                "country": org.country_code,
                "contacts": len(org.contacts),
                "invoices": len(org.invoices),
                "payments": len(org.payments),
                "bankTransactions": len(org.bank_transactions),
                "brandingThemes": [
                    {
                        "id": theme.branding_theme_id,
                        "name": theme.name,
                        "paymentServices": [s.name for s in theme.payment_services],
                    }
                    for theme in org.branding_themes.values()
                ],
            }
            for org in sandbox.organisations.values()
        ]
    return json_response({"organisations": organisations, "now": sandbox.clock.now()})


@bp.post("/organisations")
def add_organisation() -> ResponseReturnValue:
    body = _body()
    try:
        org = _sandbox().add_organisation(
            body.get("name", "Demo Company"), body.get("country", "GB")
        )
    except ValueError as exc:
        return _problem(str(exc))
    return json_response({"tenantId": org.tenant_id, "name": org.name}, status=201)


@bp.post("/organisations/<tenant_id>/branding-themes/<theme_id>/payment-services")
def attach_payment_service(tenant_id: str, theme_id: str) -> ResponseReturnValue:
    body = _body()
    try:
        service = _sandbox().attach_payment_service(
            tenant_id,
            theme_id,
            body.get("name", "Stripe"),
            body.get("url", "https://checkout.stripe.com/pay"),
        )
    except KeyError:
        return _problem("no such organisation or branding theme", 404)
    return json_response({"paymentServiceId": service.payment_service_id}, status=201)


@bp.get("/faults")
def list_faults() -> ResponseReturnValue:
    faults = _sandbox().faults
    return json_response(
        {
            "pending": [f.as_dict() for f in faults.pending()],
            "fired": [list(f) for f in faults.fired],
        }
    )


@bp.post("/faults")
def add_fault() -> ResponseReturnValue:
    """Queue ``{"kind": "status"|"slow"|"drop", "count": N, ...}``.

    Or set a fault rate with ``{"probability": p, "seed": s}``.
    """
    body = dict(_body())
    faults = _sandbox().faults
    try:
        if "probability" in body:
            rate = faults.set_rate(
                float(body.pop("probability")),
                int(body.pop("seed", 0)),
                **{k: tuple(v) if isinstance(v, list) else v for k, v in body.items()},
            )
            return json_response({"probability": rate.probability, "seed": rate.seed}, status=201)
        kind = body.pop("kind")
        fault = faults.add(kind, int(body.pop("count", 1)), **body)
    except (KeyError, TypeError, ValueError) as exc:
        return _problem(f"bad fault: {exc}")
    return json_response(fault.as_dict(), status=201)


@bp.delete("/faults")
def clear_faults() -> ResponseReturnValue:
    _sandbox().faults.clear()
    return Response("", status=204)


@bp.post("/clock/advance")
def advance_clock() -> ResponseReturnValue:
    sandbox = _sandbox()
    try:
        sandbox.advance_clock(float(_body().get("seconds", 0)))
    except ValueError as exc:
        return _problem(str(exc))
    return json_response({"now": sandbox.clock.now()})


@bp.post("/rate-limits")
def configure_rate_limits() -> ResponseReturnValue:
    try:
        settings = _sandbox().rate_limiter.configure(**_body())
    except ValueError as exc:
        return _problem(str(exc))
    return json_response(asdict(settings))


@bp.get("/contract-violations")
def contract_violations() -> ResponseReturnValue:
    sandbox = _sandbox()
    return json_response(
        {
            "enabled": sandbox.contract is not None,
            "violations": [asdict(v) for v in sandbox.contract_violations],
        }
    )


@bp.get("/invoices/<invoice_id>/online")
def online_invoice_page(invoice_id: str) -> ResponseReturnValue:
    """The page OnlineInvoiceUrl points at: what the customer sees."""
    sandbox = _sandbox()
    with sandbox.lock:
        found = sandbox.find_invoice(invoice_id)
        if found is None:
            return Response("Invoice not found", status=404, content_type="text/plain")
        org, invoice = found
        theme = org.branding_themes.get(invoice.branding_theme_id or "")
        services = list(theme.payment_services) if theme else []
        view = invoice_json(org, invoice)
        contact = org.contacts[invoice.contact_id]
    return render_template(
        "sandbox/online_invoice.html",
        org=org,
        invoice=invoice,
        contact=contact,
        view=view,
        payment_services=services,
        paid=request.args.get("paid", ""),
        problem=request.args.get("problem", ""),
    )


@bp.post("/invoices/<invoice_id>/pay")
def pay_invoice(invoice_id: str) -> ResponseReturnValue:
    """ "Pay now": the online page's form (amount optional: all that is due), or JSON
    ``{"amount": "10.00", "paymentServiceId": ...}`` from a test or the demo's admin."""
    as_json = request.is_json
    values = _body() if as_json else request.form
    page = url_for(".online_invoice_page", invoice_id=invoice_id)
    try:
        result = pay_now(
            _sandbox(),
            invoice_id,
            parse_amount(values.get("amount")),
            values.get("paymentServiceId") or values.get("service"),
        )
    except PayNowRefused as refused:
        if as_json:
            return _problem(str(refused), 404 if str(refused) == "Invoice not found" else 400)
        return redirect(
            url_for(".online_invoice_page", invoice_id=invoice_id, problem=str(refused)), 303
        )
    payment, fee = result.payment, result.fee
    if not as_json:
        return redirect(f"{page}?paid={payment.reference}", 303)
    return json_response(
        {
            "paymentId": payment.payment_id,
            "invoiceId": result.invoice.invoice_id,
            "amount": payment.amount,
            "reference": payment.reference,
            "fee": fee.amount,
            "bankTransactionId": fee.bank_transaction_id,
            "invoiceStatus": result.invoice.status,
            "amountDue": result.invoice.amount_due,
        },
        status=201,
    )


@bp.get("/organisations/<tenant_id>/bank-transactions")
def bank_transactions(tenant_id: str) -> ResponseReturnValue:
    sandbox = _sandbox()
    with sandbox.lock:
        org = sandbox.organisations.get(tenant_id.lower())
        if org is None:
            return _problem("no such organisation", 404)
        items = [
            {
                "BankTransactionID": t.bank_transaction_id,
                "Type": t.type,
                "BankAccount": {"Code": t.bank_account_code},
                "Contact": {"Name": t.contact_name},
                "LineItems": [
                    {
                        "Description": t.description,
                        "AccountCode": t.account_code,
                        "LineAmount": t.amount,
                    }
                ],
                "Total": t.amount,
                "Date": ms_date(t.date),
                "Reference": t.reference,
                "Status": t.status,
            }
            for t in org.bank_transactions.values()
        ]
    return json_response({"BankTransactions": items})


@bp.get("/webhooks")
def webhook_deliveries() -> ResponseReturnValue:
    webhooks = _sandbox().webhooks
    return json_response(
        {
            "url": webhooks.url,
            "subscribed": webhooks.enabled,
            "deliveries": [
                {
                    "at": d.at,
                    "url": d.url,
                    "status": d.status,
                    "error": d.error,
                    "payload": d.payload(),
                }
                for d in list(webhooks.deliveries)
            ],
        }
    )


@bp.post("/webhooks")
def subscribe_webhooks() -> ResponseReturnValue:
    """``{"url": ..., "key": ...}``: where Xero's events go and the key that signs them."""
    body = _body()
    sandbox = _sandbox()
    sandbox.webhook_url = body.get("url") or None
    sandbox.webhook_key = body.get("key") or None
    return json_response({"url": sandbox.webhook_url, "subscribed": sandbox.webhooks.enabled})
