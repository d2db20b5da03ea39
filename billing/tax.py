"""Line and invoice totals, computed the way Xero computes them.

Tax is computed per line and rounded half-up to 2 places, then the lines are summed.
Rounding the invoice's total tax once instead gives a different cent often enough that
Xero answers "total does not equal the sum of the lines".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing.money import round_money

ZERO = Decimal("0.00")


class LineAmountType(enum.StrEnum):
    """Whether line amounts are before tax, include tax, or carry no tax (Xero's names)."""

    EXCLUSIVE = "Exclusive"
    INCLUSIVE = "Inclusive"
    NO_TAX = "NoTax"

    @property
    def label(self) -> str:
        return {"Exclusive": "Tax exclusive", "Inclusive": "Tax inclusive", "NoTax": "No tax"}[
            self.value
        ]


@dataclass(frozen=True)
class LineTotals:
    #: What Xero calls LineAmount: quantity x unit price, rounded to cents. It includes tax
    #: when the invoice's amounts are tax inclusive.
    line_amount: Decimal
    tax_amount: Decimal


@dataclass(frozen=True)
class InvoiceTotals:
    subtotal: Decimal
    total_tax: Decimal
    total: Decimal


def line_totals(
    quantity: Decimal, unit_price: Decimal, tax_rate_percent: Decimal, amounts: LineAmountType
) -> LineTotals:
    line_amount = round_money(quantity * unit_price)
    if amounts is LineAmountType.NO_TAX:
        return LineTotals(line_amount, ZERO)
    rate = tax_rate_percent / Decimal(100)
    if amounts is LineAmountType.EXCLUSIVE:
        tax = round_money(line_amount * rate)
    else:
        tax = round_money(line_amount * rate / (1 + rate))
    return LineTotals(line_amount, tax)


def invoice_totals(lines: Iterable[LineTotals], amounts: LineAmountType) -> InvoiceTotals:
    lines = list(lines)
    total_tax = sum((line.tax_amount for line in lines), ZERO)
    gross = sum((line.line_amount for line in lines), ZERO)
    if amounts is LineAmountType.INCLUSIVE:
        return InvoiceTotals(subtotal=gross - total_tax, total_tax=total_tax, total=gross)
    return InvoiceTotals(subtotal=gross, total_tax=total_tax, total=gross + total_tax)
