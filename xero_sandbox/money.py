"""Money arithmetic the way Xero does it.

Amounts are Decimal, never float. Line amounts and tax are rounded half-up to 2 places,
and tax is computed per line and then summed: rounding the invoice total instead gives a
different answer by a cent often enough to matter.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
UNIT_4DP = Decimal("0.0001")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


def to_decimal(value: object) -> Decimal:
    """A Decimal from a JSON number or numeric string; ValueError otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        # str() of a float is its shortest round-tripping form, so 0.1 stays 0.1.
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def round_unit_amount(amount: Decimal, unitdp: int) -> Decimal:
    """Unit prices keep 4 places only when the caller asked for ``unitdp=4``."""
    return amount.quantize(UNIT_4DP if unitdp == 4 else CENT, rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_amount: Decimal, discount_rate: Decimal | None) -> Decimal:
    gross = quantity * unit_amount
    if discount_rate:
        gross = gross * (HUNDRED - discount_rate) / HUNDRED
    return round_money(gross)


def line_tax(amount: Decimal, rate: Decimal, line_amount_types: str) -> Decimal:
    """Tax on one line, rounded on its own (Xero's per-line rule)."""
    if line_amount_types == "NoTax" or not rate:
        return ZERO
    if line_amount_types == "Inclusive":
        return round_money(amount * rate / (HUNDRED + rate))
    return round_money(amount * rate / HUNDRED)
