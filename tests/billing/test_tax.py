"""Per-line tax, rounded half-up per line and then summed, as Xero computes it."""

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.tax import LineAmountType, LineTotals, invoice_totals, line_totals


def test_exclusive_line():
    t = line_totals(Decimal("3"), Decimal("24.95"), Decimal("20"), LineAmountType.EXCLUSIVE)
    assert t == LineTotals(Decimal("74.85"), Decimal("14.97"))


def test_inclusive_line_extracts_tax():
    t = line_totals(Decimal("3"), Decimal("24.95"), Decimal("20"), LineAmountType.INCLUSIVE)
    # 74.85 * 20/120 = 12.475 -> 12.48 half-up
    assert t == LineTotals(Decimal("74.85"), Decimal("12.48"))


def test_no_tax_line():
    t = line_totals(Decimal("2"), Decimal("10.005"), Decimal("20"), LineAmountType.NO_TAX)
    assert t == LineTotals(Decimal("20.01"), Decimal("0.00"))


def test_unit_price_with_four_places_rounds_the_line_once():
    t = line_totals(Decimal("3"), Decimal("0.3333"), Decimal("0"), LineAmountType.EXCLUSIVE)
    assert t.line_amount == Decimal("1.00")


def test_per_line_rounding_differs_from_rounding_the_total():
    # Three lines of 0.05 at 10%: each line's tax 0.005 rounds up to 0.01, so 0.03 in all,
    # where rounding the invoice's tax once would give 0.02. Xero expects 0.03.
    lines = [
        line_totals(Decimal("1"), Decimal("0.05"), Decimal("10"), LineAmountType.EXCLUSIVE)
        for _ in range(3)
    ]
    totals = invoice_totals(lines, LineAmountType.EXCLUSIVE)
    assert totals.total_tax == Decimal("0.03")
    assert totals.subtotal == Decimal("0.15")
    assert totals.total == Decimal("0.18")


def test_inclusive_totals_split_tax_out_of_the_gross():
    lines = [
        line_totals(Decimal("1"), Decimal("120"), Decimal("20"), LineAmountType.INCLUSIVE),
        line_totals(Decimal("1"), Decimal("10.50"), Decimal("5"), LineAmountType.INCLUSIVE),
    ]
    totals = invoice_totals(lines, LineAmountType.INCLUSIVE)
    assert totals.total == Decimal("130.50")
    assert totals.total_tax == Decimal("20.00") + Decimal("0.50")
    assert totals.subtotal + totals.total_tax == totals.total


# An independent computation: integer arithmetic in hundredths of cents and explicit
# half-up rounding, sharing no code with billing.tax.
def _cents_half_up(numerator: int, denominator: int) -> int:
    """round(numerator / denominator) half away from zero, for non-negative values."""
    return (2 * numerator + denominator) // (2 * denominator)


def _reference(lines, amounts):
    subtotal = tax_total = gross = 0
    for qty_milli, price_ten_thousandths, rate_hundredths in lines:
        # quantity has 3 places, price 4: product in 10^-7 units; to cents: / 10^5
        line_cents = _cents_half_up(qty_milli * price_ten_thousandths, 10**5)
        if amounts == "Exclusive":
            tax = _cents_half_up(line_cents * rate_hundredths, 100 * 100)
        elif amounts == "Inclusive":
            tax = _cents_half_up(line_cents * rate_hundredths, 100 * 100 + rate_hundredths)
        else:
            tax = 0
        tax_total += tax
        gross += line_cents
    if amounts == "Inclusive":
        subtotal = gross - tax_total
        total = gross
    else:
        subtotal = gross
        total = gross + tax_total
    return subtotal, tax_total, total


line = st.tuples(
    st.integers(min_value=1, max_value=100_000),  # quantity 0.001 .. 100
    st.integers(min_value=0, max_value=50_000_000),  # price 0 .. 5,000.0000
    st.sampled_from([0, 500, 1000, 1250, 1500, 2000, 2500]),  # rate in hundredths of %
)


@given(
    st.lists(line, min_size=1, max_size=12), st.sampled_from(["Exclusive", "Inclusive", "NoTax"])
)
def test_totals_match_an_independent_integer_computation(lines, amounts):
    kind = LineAmountType(amounts)
    computed = invoice_totals(
        [
            line_totals(Decimal(q) / 1000, Decimal(p) / 10000, Decimal(r) / 100, kind)
            for q, p, r in lines
        ],
        kind,
    )
    subtotal, tax, total = _reference(lines, amounts)
    cent = Decimal("0.01")
    assert computed.subtotal == (Decimal(subtotal) * cent).quantize(cent, ROUND_HALF_UP)
    assert computed.total_tax == Decimal(tax) * cent
    assert computed.total == Decimal(total) * cent
