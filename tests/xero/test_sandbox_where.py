"""The where-filter subset, on Xero-shaped dicts."""

from __future__ import annotations

import pytest

from xero_sandbox.where import compile_where

INVOICE = {
    "InvoiceNumber": "INV-0007",
    "Status": "AUTHORISED",
    "Total": 120.0,
    "SentToContact": False,
    "Contact": {"ContactID": "AB12", "Name": "Acme Desk Co"},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Status=="AUTHORISED"', True),
        ('status=="authorised"', True),
        ('Status!="AUTHORISED"', False),
        ('Contact.ContactID==guid("ab12")', True),
        ('Contact.Name.Contains("desk")', True),
        ('InvoiceNumber.StartsWith("INV-")', True),
        ('Status=="DRAFT" OR Total==120', True),
        ('Status=="AUTHORISED" AND SentToContact==true', False),
        ('Status=="AUTHORISED" && SentToContact==false', True),
        ("Reference==null", True),
    ],
)
def test_where_expressions(expression, expected):
    assert compile_where(expression)(INVOICE) is expected


# Ordering compares numbers and dates only (Status>3 became valid when <, > arrived).
@pytest.mark.parametrize(
    "expression", ['Status=="A" AND', 'Status>"A"', "Total>=", "Name.Contains(x)"]
)
def test_unsupported_where_is_refused(expression):
    with pytest.raises(ValueError):
        compile_where(expression)
