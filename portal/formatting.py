"""Template filters: money and dates through Babel, in the portal's locale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.dates import format_date
from flask import Flask, current_app

from billing.links import is_safe_outside_link, origin_of
from billing.money import format_money

PAYMENT_METHODS = {
    "card": "Card (in the portal)",
    "xero": "Paid through Xero",
    "manual": "Bank transfer",
}


def comparable_text(value: str | None) -> str:
    """Text as two systems may store it differently without meaning anything different:
    CRLF or CR line ends (browsers post CRLF), spaces around lines, blank lines, case."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = (line.strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line).casefold()


def outside_link(url: str | None) -> str:
    """``url`` if it may be an href (billing.links), else "" (templates then show no link)."""
    base = current_app.config["XERO_BASE_URL"]
    return url if url and is_safe_outside_link(url, [origin_of(base)] if base else []) else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(comparable_text, "comparable")
    app.add_template_filter(outside_link, "outside_link")

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
