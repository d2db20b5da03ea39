"""The sandbox answers as Xero does where the portal depends on it (issue 8, part 6).

Each behaviour is checked against what Xero documents: the OpenAPI description in
``../shared/xero-openapi/`` (scopes per operation, the nested invoice in payment answers,
ExpectedPaymentDate, Balances), Xero's developer answers on the refresh-token grace period
and its rate-limit headers.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.xero.conftest import needs_openapi
from xero_sandbox import Clock, Sandbox, create_sandbox_app
from xero_sandbox.contract import default_spec_dir
from xero_sandbox.scopes import required_scopes

API = "/api.xro/2.0"
#: 2026-03-10 12:00 UTC: the sandbox clock's "today" in these tests.
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()


class Xero:
    """A sandbox with one UK organisation, called over HTTP through Flask's test client."""

    def __init__(self, scope: str | None = None) -> None:
        self.sandbox = Sandbox(clock=Clock(NOW), rate_limits=False)
        self.sandbox.clock.freeze()
        self.org = self.sandbox.add_organisation("Demo Ltd", country="GB")
        self.app = self.sandbox.connect([self.org.tenant_id], scope=scope)
        self.client = create_sandbox_app(self.sandbox).test_client()

    def reconnect(self) -> None:
        self.app = self.sandbox.connect([self.org.tenant_id])

    def call(self, method: str, path: str, body: Any = None, **query: str) -> Any:
        response = self.client.open(
            f"{API}/{path}",
            method=method,
            query_string=query,
            data=None if body is None else json.dumps(body, default=str),
            content_type="application/json",
            headers={
                "Authorization": f"Bearer {self.app.token['access_token']}",
                "xero-tenant-id": self.org.tenant_id,
            },
        )
        response.json_body = json.loads(response.get_data() or b"null", parse_float=Decimal)
        return response

    def invoice(self, contact: str, amount: str, due: date, status: str = "AUTHORISED") -> dict:
        answer = self.call(
            "PUT",
            "Invoices",
            {
                "Invoices": [
                    {
                        "Type": "ACCREC",
                        "Contact": {"Name": contact},
                        "Status": status,
                        "Date": "2026-02-01",
                        "DueDate": due.isoformat(),
                        "LineAmountTypes": "NoTax",
                        "LineItems": [
                            {
                                "Description": "Membership",
                                "Quantity": 1,
                                "UnitAmount": amount,
                                "AccountCode": "200",
                                "TaxType": "NONE",
                            }
                        ],
                    }
                ]
            },
        )
        assert answer.status_code == 200, answer.json_body
        return answer.json_body["Invoices"][0]

    def pay(self, invoice: dict, amount: str) -> Any:
        return self.call(
            "PUT",
            "Payments",
            {
                "Payments": [
                    {
                        "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                        "Account": {"Code": "090"},
                        "Amount": amount,
                        "Date": "2026-03-01",
                    }
                ]
            },
        )


@pytest.fixture
def xero() -> Xero:
    return Xero()


# -- Contact.Balances ---------------------------------------------------------------------------


def test_contacts_carry_balances_from_their_authorised_invoices(xero):
    overdue = xero.invoice("Acme", "100.00", date(2026, 3, 1))
    xero.invoice("Acme", "40.50", date(2026, 3, 31))
    xero.invoice("Acme", "999.00", date(2026, 1, 1), status="DRAFT")  # not approved
    assert xero.pay(overdue, "30.00").status_code == 200
    contact_id = overdue["Contact"]["ContactID"]

    [contact] = xero.call("GET", f"Contacts/{contact_id}").json_body["Contacts"]
    assert contact["Balances"]["AccountsReceivable"] == {
        "Outstanding": Decimal("110.50"),  # 70.00 left on the first, 40.50 on the second
        "Overdue": Decimal("70.00"),  # only the first is past its due date
    }
    assert contact["Balances"]["AccountsPayable"] == {
        "Outstanding": Decimal("0"),
        "Overdue": Decimal("0"),
    }
    [listed] = xero.call("GET", "Contacts", where=f'ContactID==guid("{contact_id}")').json_body[
        "Contacts"
    ]
    assert listed["Balances"] == contact["Balances"]

    # On 1 April by the sandbox clock the second one is overdue too.
    xero.sandbox.advance_clock(22 * 24 * 3600)
    xero.reconnect()  # the access token expired meanwhile
    [later] = xero.call("GET", f"Contacts/{contact_id}").json_body["Contacts"]
    assert later["Balances"]["AccountsReceivable"]["Overdue"] == Decimal("110.50")


def test_a_contact_without_approved_invoices_has_no_balances(xero):
    draft = xero.invoice("Quiet Ltd", "10.00", date(2026, 1, 1), status="DRAFT")
    [contact] = xero.call("GET", f"Contacts/{draft['Contact']['ContactID']}").json_body["Contacts"]
    assert "Balances" not in contact


# -- ExpectedPaymentDate ------------------------------------------------------------------------


def test_expected_payment_date_is_kept_and_returned(xero):
    invoice = xero.invoice("Acme", "10.00", date(2026, 3, 31))
    assert "ExpectedPaymentDate" not in invoice
    answer = xero.call(
        "POST",
        f"Invoices/{invoice['InvoiceID']}",
        {"Invoices": [{"ExpectedPaymentDate": "2026-04-15"}]},
    )
    assert answer.status_code == 200, answer.json_body
    # Xero's msdate: midnight UTC of 2026-04-15.
    expected = "/Date(1776211200000+0000)/"
    assert answer.json_body["Invoices"][0]["ExpectedPaymentDate"] == expected
    [again] = xero.call("GET", f"Invoices/{invoice['InvoiceID']}").json_body["Invoices"]
    assert again["ExpectedPaymentDate"] == expected

    created = xero.call(
        "PUT",
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"Name": "Acme"},
            "ExpectedPaymentDate": "2026-04-15",
            "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1}],
        },
    )
    assert created.json_body["Invoices"][0]["ExpectedPaymentDate"] == expected


# -- summaryOnly --------------------------------------------------------------------------------


def test_summary_only_leaves_out_lines_allocations_and_balances(xero):
    invoice = xero.invoice("Acme", "10.00", date(2026, 3, 31))
    xero.pay(invoice, "5.00")
    [full] = xero.call("GET", "Invoices").json_body["Invoices"]
    [brief] = xero.call("GET", "Invoices", summaryOnly="true").json_body["Invoices"]
    omitted = {"LineItems", "Payments", "CreditNotes", "Prepayments", "Overpayments"}
    assert omitted <= full.keys()
    assert not omitted & brief.keys()
    assert {k: v for k, v in full.items() if k not in omitted} == brief
    assert brief["AmountDue"] == Decimal("5.00") and brief["Status"] == "AUTHORISED"

    [contact] = xero.call("GET", "Contacts", summaryOnly="true").json_body["Contacts"]
    assert "Balances" not in contact and contact["Name"] == "Acme"
    [contact] = xero.call("GET", "Contacts").json_body["Contacts"]
    assert "Balances" in contact


# -- OAuth scopes -------------------------------------------------------------------------------


def test_a_call_outside_the_granted_scopes_is_refused():
    xero = Xero(scope="offline_access accounting.transactions accounting.contacts.read")
    theme_id = next(iter(xero.org.branding_themes))
    refused = xero.call("GET", f"BrandingThemes/{theme_id}/PaymentServices")
    assert (refused.status_code, refused.json_body["Detail"]) == (
        401,
        "AuthorizationUnsuccessful",
    )
    assert xero.call("GET", "Organisation").status_code == 401  # accounting.settings
    assert xero.call("GET", "Contacts").status_code == 200  # the .read scope reads
    write = xero.call("PUT", "Contacts", {"Contacts": [{"Name": "New"}]})
    assert write.status_code == 401  # but does not write
    assert xero.call("GET", "Invoices").status_code == 200

    granted = Xero()  # what the portal asks for, paymentservices included
    theme_id = next(iter(granted.org.branding_themes))
    assert granted.call("GET", f"BrandingThemes/{theme_id}/PaymentServices").status_code == 200


@needs_openapi
def test_the_scope_table_matches_xeros_description():
    import yaml

    spec = yaml.safe_load((default_spec_dir() / "xero_accounting.yaml").read_text())
    app = create_sandbox_app(Sandbox(rate_limits=False))
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        sandbox_path = rule.rule[len(API) + 1 :]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(spec, sandbox_path, method)
            if operation is None:
                continue
            [security] = operation["security"]
            assert required_scopes(method, sandbox_path) == frozenset(security["OAuth2"]), (
                method,
                sandbox_path,
            )
            checked += 1
    assert checked >= 30


def _operation(spec: dict, sandbox_path: str, method: str) -> dict | None:
    """The description's operation for a sandbox route (its <names> in other words)."""
    wanted = [p if not p.startswith("<") else None for p in sandbox_path.split("/")]
    for path, item in spec["paths"].items():
        parts = path.strip("/").split("/")
        if len(parts) == len(wanted) and all(
            w is None and p.startswith("{") or w == p for w, p in zip(wanted, parts, strict=True)
        ):
            return item.get(method.lower())
    return None


# -- refresh tokens -----------------------------------------------------------------------------


def _refresh(xero: Xero, refresh_token: str):
    return xero.client.post(
        "/connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": xero.app.client_id,
            "client_secret": xero.app.client_secret,
        },
    )


def test_a_used_refresh_token_can_be_retried_for_30_minutes_with_the_same_answer(xero):
    old = xero.app.token["refresh_token"]
    first = _refresh(xero, old).get_json()
    xero.sandbox.advance_clock(29 * 60)
    again = _refresh(xero, old)
    assert again.status_code == 200
    assert (again.get_json()["access_token"], again.get_json()["refresh_token"]) == (
        first["access_token"],
        first["refresh_token"],
    )
    xero.sandbox.advance_clock(60)
    late = _refresh(xero, old)
    assert (late.status_code, late.get_json()) == (400, {"error": "invalid_grant"})
    # The new pair works.
    assert _refresh(xero, first["refresh_token"]).status_code == 200


def test_refresh_tokens_expire_after_60_days(xero):
    token = xero.app.token["refresh_token"]
    xero.sandbox.advance_clock(60 * 24 * 3600 - 1)
    kept = _refresh(xero, token)
    assert kept.status_code == 200
    xero.sandbox.advance_clock(1)
    newer = kept.get_json()["refresh_token"]
    assert _refresh(xero, newer).status_code == 200  # a fresh token has 60 days of its own

    unused = Xero()
    unused.sandbox.advance_clock(60 * 24 * 3600)
    expired = _refresh(unused, unused.app.token["refresh_token"])
    assert (expired.status_code, expired.get_json()) == (400, {"error": "invalid_grant"})


# -- order and where ----------------------------------------------------------------------------


def test_order_sorts_numbers_and_dates_by_value(xero):
    for amount, due in (("9.00", date(2026, 12, 1)), ("10.00", date(2026, 3, 31))):
        xero.invoice("Acme", amount, due)
    xero.invoice("Acme", "100.00", date(2026, 10, 2))

    def numbers(**query: str) -> list[str]:
        return [
            str(i["Total"]) for i in xero.call("GET", "Invoices", **query).json_body["Invoices"]
        ]

    assert numbers(order="Total") == ["9.0", "10.0", "100.0"]  # not "10", "100", "9"
    assert numbers(order="Total DESC") == ["100.0", "10.0", "9.0"]
    # /Date(ms)/ strings sort by the date, not as text (10 digits before 11, ...).
    assert numbers(order="DueDate") == ["10.0", "100.0", "9.0"]
    assert numbers(order="Contact.Name, Total DESC") == ["100.0", "10.0", "9.0"]


def test_where_compares_numbers_and_dates(xero):
    xero.invoice("Acme", "9.00", date(2026, 3, 1))
    xero.invoice("Acme", "10.00", date(2026, 3, 31))
    xero.invoice("Acme", "100.00", date(2026, 4, 2))

    def totals(where: str) -> list[Decimal]:
        answer = xero.call("GET", "Invoices", where=where, order="Total")
        assert answer.status_code == 200, answer.json_body
        return [i["Total"] for i in answer.json_body["Invoices"]]

    assert totals("Total>10") == [Decimal(100)]
    assert totals("Total>=10") == [Decimal(10), Decimal(100)]
    assert totals("Total<10") == [Decimal(9)]
    assert totals("Total<=10 AND Total>9") == [Decimal(10)]
    assert totals("DueDate<DateTime(2026,03,31)") == [Decimal(9)]
    assert totals("DueDate>=DateTime(2026, 3, 31)") == [Decimal(10), Decimal(100)]
    assert totals("DueDate==DateTime(2026,04,02)") == [Decimal(100)]
    assert xero.call("GET", "Invoices", where='Status>"A"').status_code == 400


# -- injected 429s ------------------------------------------------------------------------------


def test_an_injected_429_carries_retry_after_as_xeros_does(xero):
    xero.sandbox.faults.add("status", status=429, retry_after=17, path=f"{API}/Invoices")
    refused = xero.call("GET", "Invoices")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "17"
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert refused.json_body["Title"] == "Too Many Requests"
    assert "X-MinLimit-Remaining" in refused.headers
    assert xero.call("GET", "Invoices").status_code == 200


# -- payments' nested invoices ------------------------------------------------------------------


def test_payment_answers_nest_the_invoice_as_xero_does(xero):
    invoice = xero.invoice("Acme", "50.00", date(2026, 3, 31))
    created = xero.pay(invoice, "20.00").json_body["Payments"][0]
    nested = created["Invoice"]
    # As in the description's createPayments and getPayment examples: the invoice in full.
    assert nested["Status"] == "AUTHORISED"
    assert (nested["AmountDue"], nested["AmountPaid"]) == (Decimal("30.00"), Decimal("20.00"))
    assert nested["Total"] == Decimal("50.00") and nested["LineItems"]
    assert nested["DueDate"] == invoice["DueDate"]

    [fetched] = xero.call("GET", f"Payments/{created['PaymentID']}").json_body["Payments"]
    assert fetched["Invoice"]["AmountPaid"] == Decimal("20.00")
    assert [p["PaymentID"] for p in fetched["Invoice"]["Payments"]] == [created["PaymentID"]]

    # The list (getPayments) keeps the short form its example shows: no lines, no amounts.
    [listed] = xero.call("GET", "Payments").json_body["Payments"]
    assert listed["Invoice"]["LineItems"] == [] and "AmountDue" not in listed["Invoice"]
