from decimal import Decimal

import pytest

from billing.errors import InvalidAmount
from billing.money import check_currency, format_money, parse_decimal, round_money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("0.015", "0.02"),
        ("0.025", "0.03"),
        ("2.675", "2.68"),
        ("-0.005", "-0.01"),
    ],
)
def test_round_money_is_half_up_not_bankers(value, expected):
    assert round_money(Decimal(value)) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("12", 4, Decimal("12")),
        ("12.3456", 4, Decimal("12.3456")),
        (" 1,250.50 ", 2, Decimal("1250.50")),
    ],
)
def test_parse_decimal_accepts(text, places, expected):
    assert parse_decimal(text, places=places) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12.34567", "at most 4 decimal places"),
        ("abc", "must be a number"),
        ("NaN", "must be a number"),
        ("Infinity", "must be a number"),
        ("", "must be a number"),
        ("1e3", "must be a number"),
        ("1_000", "must be a number"),
        ("１２", "must be a number"),
        ("1,2,3", "must be a number"),
        ("12.", "must be a number"),
        ("--1", "must be a number"),
    ],
)
def test_parse_decimal_refuses(text, message):
    with pytest.raises(InvalidAmount, match=message):
        parse_decimal(text, places=4)


def test_parse_decimal_refuses_floats():
    with pytest.raises(TypeError):
        parse_decimal(1.1, places=2)  # type: ignore[arg-type]


def test_check_currency():
    assert check_currency(" gbp ") == "GBP"
    for bad in ("", "GB", "ABC", "G1P", "<b>"):
        with pytest.raises(InvalidAmount):
            check_currency(bad)


def test_format_money_uses_the_currency():
    assert format_money(Decimal("1234.5"), "GBP") == "£1,234.50"
    assert format_money(Decimal("10"), "EUR", "de_DE") == "10,00\xa0€"
