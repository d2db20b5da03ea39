"""Money arithmetic: Decimal only, rounded half-up the way Xero rounds.

Unit prices keep up to 4 places, line amounts, tax and totals 2.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, list_currencies

from billing.errors import InvalidAmount

CENT = Decimal("0.01")
#: The largest unit price or line amount accepted: far above any coworking invoice, well
#: inside Numeric(14, 2/4) so nothing is ever truncated by the database.
MAX_AMOUNT = Decimal("1000000000")
MAX_QUANTITY = Decimal("1000000")


#: Plain ASCII digits, optionally grouped in thousands by commas, an optional minus and
#: decimal point. Decimal() alone would also take 1e3, 1_000, NaN and non-ASCII digits.
_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?", re.ASCII)


def round_money(value: Decimal) -> Decimal:
    """Round to cents, half-up (Xero's rule; Python's default is banker's rounding)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_decimal(text: str | Decimal | int, *, places: int, field: str = "Amount") -> Decimal:
    """Parse user input into a Decimal with at most ``places`` decimal places.

    Refuses floats' cousins (NaN, Infinity, exponents) and too many decimals rather than
    rounding silently: an admin who typed 9.99999 meant something we should ask about.
    """
    if isinstance(text, float):
        raise TypeError("floats are never used for money")
    raw = str(text).strip()
    if not _PLAIN_NUMBER.fullmatch(raw):
        raise InvalidAmount(f"{field} must be a number, such as 1250.50 or 1,250.50.")
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise InvalidAmount(f"{field} must be a number.") from None
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > places:
        raise InvalidAmount(f"{field} can have at most {places} decimal places.")
    return value


def check_currency(code: str) -> str:
    code = (code or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise InvalidAmount("Currency must be a three-letter ISO code, such as GBP.")
    if code not in list_currencies():
        raise InvalidAmount(f"{code} is not a known currency.")
    return code


def format_money(amount: Decimal, currency: str, locale: str = "en_GB") -> str:
    return format_currency(amount, currency, locale=locale)
