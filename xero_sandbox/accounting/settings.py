"""Organisation settings: Organisation, Accounts, TaxRates, BrandingThemes (read mostly)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..errors import json_response, not_found, validation_exception
from ..serialise import (
    account_json,
    branding_theme_json,
    envelope,
    organisation_json,
    payment_service_json,
    tax_rate_json,
)
from ..state import PaymentService, new_id
from .common import body_json, elements, filtered, organisation, sandbox


def get_organisation() -> ResponseReturnValue:
    org = organisation()
    return json_response(envelope("Organisations", [organisation_json(org)], sandbox().clock.now()))


def get_accounts() -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        items = filtered([account_json(a) for a in org.accounts.values()])
    return json_response(envelope("Accounts", items, sandbox().clock.now()))


def get_account(account_id: str) -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        account = org.accounts.get(account_id.lower())
        if account is None:
            return not_found()
        return json_response(envelope("Accounts", [account_json(account)], sandbox().clock.now()))


def get_tax_rates() -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        items = filtered([tax_rate_json(r) for r in org.tax_rates.values()])
    return json_response(envelope("TaxRates", items, sandbox().clock.now()))


def get_tax_rate(tax_type: str) -> ResponseReturnValue:
    org = organisation()
    rate = org.tax_rates.get(tax_type)
    if rate is None:
        return not_found()
    return json_response(envelope("TaxRates", [tax_rate_json(rate)], sandbox().clock.now()))


def get_branding_themes() -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        themes = sorted(org.branding_themes.values(), key=lambda t: t.sort_order)
        items = [branding_theme_json(t) for t in themes]
    return json_response(envelope("BrandingThemes", items, sandbox().clock.now()))


def get_branding_theme(theme_id: str) -> ResponseReturnValue:
    theme = organisation().branding_themes.get(theme_id.lower())
    if theme is None:
        return not_found()
    return json_response(
        envelope("BrandingThemes", [branding_theme_json(theme)], sandbox().clock.now())
    )


def get_payment_services(theme_id: str) -> ResponseReturnValue:
    # Only apps granted the paymentservices scope get here (the gateway checks scopes).
    theme = organisation().branding_themes.get(theme_id.lower())
    if theme is None:
        return not_found()
    with sandbox().lock:
        items = [payment_service_json(s) for s in theme.payment_services]
    return json_response(envelope("PaymentServices", items, sandbox().clock.now()))


def create_payment_services(theme_id: str) -> ResponseReturnValue:
    """Attach payment services (e.g. Stripe) to a theme, so its online invoices get Pay now."""
    theme = organisation().branding_themes.get(theme_id.lower())
    if theme is None:
        return not_found()
    items = elements(body_json(), "PaymentServices")
    for item in items:
        if not item.get("PaymentServiceName") or not item.get("PaymentServiceUrl"):
            item = dict(item)
            item["ValidationErrors"] = [
                {"Message": "PaymentServiceName and PaymentServiceUrl are required"}
            ]
            return validation_exception([item])
    created = []
    with sandbox().lock:
        for item in items:
            service = PaymentService(
                new_id(),
                item["PaymentServiceName"],
                item["PaymentServiceUrl"],
                item.get("PayNowText") or "Pay now",
                item.get("PaymentServiceType") or "Custom",
            )
            theme.payment_services.append(service)
            created.append(payment_service_json(service))
    return json_response(envelope("PaymentServices", created, sandbox().clock.now()))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/Organisation", view_func=get_organisation)
    bp.add_url_rule("/Accounts", view_func=get_accounts)
    bp.add_url_rule("/Accounts/<account_id>", view_func=get_account)
    bp.add_url_rule("/TaxRates", view_func=get_tax_rates)
    bp.add_url_rule("/TaxRates/<tax_type>", view_func=get_tax_rate)
    bp.add_url_rule("/BrandingThemes", view_func=get_branding_themes)
    bp.add_url_rule("/BrandingThemes/<theme_id>", view_func=get_branding_theme)
    bp.add_url_rule("/BrandingThemes/<theme_id>/PaymentServices", view_func=get_payment_services)
    bp.add_url_rule(
        "/BrandingThemes/<theme_id>/PaymentServices",
        view_func=create_payment_services,
        methods=["POST"],
        endpoint="create_payment_services",
    )
