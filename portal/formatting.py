"""Template filters: money and dates through Babel, in the portal's locale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.dates import format_date
from flask import Flask, current_app

from billing.money import format_money

PAYMENT_METHODS = {
    "card": "Card (in the portal)",
    "xero": "Paid through Xero",
    "manual": "Bank transfer",
}


def init_app(app: Flask) -> None:
    @app.template_filter("money")
    def money(amount: Decimal | None, currency: str) -> str:
        if amount is None:
            return ""
        return format_money(Decimal(amount), currency, current_app.config["PORTAL_LOCALE"])

    @app.template_filter("day")
    def day(value: date | None) -> str:
        if value is None:
            return ""
        return format_date(value, format="medium", locale=current_app.config["PORTAL_LOCALE"])

    @app.template_filter("payment_method")
    def payment_method(method: str) -> str:
        return PAYMENT_METHODS.get(method, method.replace("_", " ").capitalize())

    @app.template_filter("plain_decimal")
    def plain_decimal(value: Decimal | None) -> str:
        """9.5000 -> 9.50, 2.0000 -> 2: what an admin typed, without padding zeros."""
        if value is None:
            return ""
        text = f"{Decimal(value).normalize():f}"
        if "." in text and len(text.split(".")[1]) == 1:
            text += "0"
        return text
