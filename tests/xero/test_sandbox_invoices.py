"""Invoices through xero-python: totals, batches, validation errors and status rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import urllib3
from xero_python.accounting import (
    Contact,
    HistoryRecord,
    HistoryRecords,
    Invoice,
    Invoices,
    LineAmountTypes,
)
from xero_python.exceptions import AccountingBadRequestException

from tests.xero.conftest import needs_openapi

from .builders import create_contact, create_invoice, error_messages, get_invoice, invoice, line
from .conftest import TIMEOUT


@pytest.fixture
def contact(accounting_api):
    return create_contact(accounting_api, email_address="accounts@acme.test")


def test_tax_is_rounded_per_line_then_summed(accounting_api, contact):
    # 3 lines of 0.05 at 20%: each line's tax 0.01 -> 0.03; tax on the total would be 0.03 too,
    # so use amounts where the two rules differ: 0.025 tax per line rounds up to 0.03 each.
    lines = [line(unit="0.125", quantity="1") for _ in range(3)]
    created = create_invoice(accounting_api, contact.contact_id, lines)
    assert [li.line_amount for li in created.line_items] == [Decimal("0.13")] * 3
    assert [li.tax_amount for li in created.line_items] == [Decimal("0.03")] * 3
    assert created.total_tax == Decimal("0.09")  # not round(0.39 * 0.2) = 0.08
    assert created.sub_total == Decimal("0.39")
    assert created.total == Decimal("0.48")
    assert created.amount_due == Decimal("0.48")
    assert created.invoice_number == "INV-0001"


def test_unitdp_4_keeps_unit_price_places(accounting_api, contact):
    result = accounting_api.api.create_invoices(
        accounting_api.tenant_id,
        Invoices(invoices=[invoice(contact.contact_id, [line(quantity="3", unit="33.3350")])]),
        unitdp=4,
        _request_timeout=TIMEOUT,
    )
    created = result.invoices[0]
    assert created.line_items[0].unit_amount == Decimal("33.335")
    assert created.line_items[0].line_amount == Decimal("100.01")  # 100.005 half-up
    assert created.line_items[0].tax_amount == Decimal("20.00")
    # Without unitdp the unit price is shown (and would be stored) at 2 places.
    shown = get_invoice(accounting_api, created.invoice_id)
    assert shown.line_items[0].unit_amount == Decimal("33.34")
    assert get_invoice(accounting_api, created.invoice_id, unitdp=4).line_items[
        0
    ].unit_amount == Decimal("33.335")


def test_inclusive_amounts_take_tax_out_of_each_line(accounting_api, contact):
    created = create_invoice(
        accounting_api,
        contact.contact_id,
        [line(unit="10.00"), line(unit="10.01")],
        line_amount_types=LineAmountTypes.INCLUSIVE,
    )
    assert [li.tax_amount for li in created.line_items] == [Decimal("1.67"), Decimal("1.67")]
    assert created.total == Decimal("20.01")
    assert created.sub_total == Decimal("16.67")


def test_batch_with_summarize_errors_false_saves_good_and_reports_bad(accounting_api, contact):
    api, tenant = accounting_api.api, accounting_api.tenant_id
    batch = Invoices(
        invoices=[
            invoice(contact.contact_id, [line()], reference="good-1"),
            invoice(contact.contact_id, [line(account="999")], reference="bad"),
            invoice(contact.contact_id, [line()], reference="good-2"),
        ]
    )
    result = api.create_invoices(tenant, batch, summarize_errors=False, _request_timeout=TIMEOUT)
    good_1, bad, good_2 = result.invoices
    assert good_1.status_attribute_string == "OK" and good_1.has_errors is False
    assert good_2.status_attribute_string == "OK"
    assert bad.has_errors is True and bad.status_attribute_string == "ERROR"
    assert [e.message for e in bad.validation_errors] == [
        "Account code '999' is not a valid code for this document."
    ]
    stored = api.get_invoices(tenant, _request_timeout=TIMEOUT).invoices
    assert sorted(i.reference for i in stored) == ["good-1", "good-2"]


def test_batch_with_summarized_errors_saves_nothing(accounting_api, contact):
    api, tenant = accounting_api.api, accounting_api.tenant_id
    batch = Invoices(
        invoices=[
            invoice(contact.contact_id, [line()]),
            invoice(contact.contact_id, [line(tax="INPUT2")]),
        ]
    )
    with pytest.raises(AccountingBadRequestException) as caught:
        api.create_invoices(tenant, batch, _request_timeout=TIMEOUT)
    body = caught.value.error_data
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert body["Message"] == "A validation exception occurred"
    assert error_messages(caught.value) == [
        "The TaxType code INPUT2 does not exist or cannot be used for this type of transaction."
    ]
    assert api.get_invoices(tenant, _request_timeout=TIMEOUT).invoices == []


@pytest.mark.parametrize(
    ("line_kwargs", "message"),
    [
        ({"account": "999"}, "Account code '999' is not a valid code for this document."),
        ({"account": "090"}, "Account code '090' is not a valid code for this document."),
        (
            {"tax": "MADEUP"},
            "The TaxType code MADEUP does not exist or cannot be used for this type of "
            "transaction.",
        ),
        (
            {"account": "429", "tax": "OUTPUT2"},
            "The TaxType code 'OUTPUT2' cannot be used with account code '429'.",
        ),
        ({"account": None, "tax": None}, "Account code must be specified"),
    ],
)
def test_line_validation_errors(accounting_api, contact, line_kwargs, message):
    with pytest.raises(AccountingBadRequestException) as caught:
        create_invoice(accounting_api, contact.contact_id, [line(**line_kwargs)])
    assert message in error_messages(caught.value)


def test_unknown_and_missing_contact(accounting_api):
    with pytest.raises(AccountingBadRequestException) as caught:
        create_invoice(accounting_api, "6f1e2b86-0000-4000-8000-000000000001")
    assert error_messages(caught.value) == ["Contact could not be found"]
    with pytest.raises(AccountingBadRequestException) as caught:
        accounting_api.api.create_invoices(
            accounting_api.tenant_id,
            Invoices(invoices=[Invoice(type="ACCREC", line_items=[line()])]),
            _request_timeout=TIMEOUT,
        )
    assert error_messages(caught.value) == [
        "A Contact must be specified for this type of transaction"
    ]


def test_invoice_naming_a_new_contact_creates_it(accounting_api):
    created = accounting_api.api.create_invoices(
        accounting_api.tenant_id,
        Invoices(
            invoices=[
                Invoice(type="ACCREC", contact=Contact(name="Walk-in Ltd"), line_items=[line()])
            ]
        ),
        _request_timeout=TIMEOUT,
    ).invoices[0]
    found = accounting_api.api.get_contacts(
        accounting_api.tenant_id, where='Name=="Walk-in Ltd"', _request_timeout=TIMEOUT
    ).contacts
    assert [c.contact_id for c in found] == [created.contact.contact_id]


def test_duplicate_invoice_number_is_refused(accounting_api, contact):
    create_invoice(accounting_api, contact.contact_id, invoice_number="MP-1001")
    with pytest.raises(AccountingBadRequestException) as caught:
        create_invoice(accounting_api, contact.contact_id, invoice_number="MP-1001")
    assert error_messages(caught.value) == ["Invoice # must be unique."]
    # Within one batch too.
    result = accounting_api.api.create_invoices(
        accounting_api.tenant_id,
        Invoices(
            invoices=[
                invoice(contact.contact_id, invoice_number="MP-2001"),
                invoice(contact.contact_id, invoice_number="MP-2001"),
            ]
        ),
        summarize_errors=False,
        _request_timeout=TIMEOUT,
    )
    assert [i.status_attribute_string for i in result.invoices] == ["OK", "ERROR"]


def _set_status(connected, invoice_id, status):
    return connected.api.update_invoice(
        connected.tenant_id,
        invoice_id,
        Invoices(invoices=[Invoice(status=status)]),
        _request_timeout=TIMEOUT,
    ).invoices[0]


def test_status_moves_xero_allows(accounting_api, contact):
    draft = create_invoice(accounting_api, contact.contact_id, status="DRAFT")
    assert _set_status(accounting_api, draft.invoice_id, "SUBMITTED").status == "SUBMITTED"
    assert _set_status(accounting_api, draft.invoice_id, "AUTHORISED").status == "AUTHORISED"
    assert _set_status(accounting_api, draft.invoice_id, "VOIDED").status == "VOIDED"
    other = create_invoice(accounting_api, contact.contact_id, status="DRAFT")
    assert _set_status(accounting_api, other.invoice_id, "DELETED").status == "DELETED"
    # Asking for the status it already has is not an error and changes nothing.
    assert _set_status(accounting_api, other.invoice_id, "DELETED").status == "DELETED"


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("AUTHORISED", "DRAFT"),
        ("AUTHORISED", "DELETED"),
        ("AUTHORISED", "PAID"),
        ("DRAFT", "VOIDED"),
        ("VOIDED", "AUTHORISED"),
    ],
)
def test_illegal_status_moves(accounting_api, contact, start, target):
    created = create_invoice(
        accounting_api, contact.contact_id, status="DRAFT" if start == "VOIDED" else start
    )
    if start == "VOIDED":
        _set_status(accounting_api, created.invoice_id, "AUTHORISED")
        _set_status(accounting_api, created.invoice_id, "VOIDED")
    with pytest.raises(AccountingBadRequestException) as caught:
        _set_status(accounting_api, created.invoice_id, target)
    assert error_messages(caught.value) == ["Invoice not of valid status for modification"]
    assert get_invoice(accounting_api, created.invoice_id).status == start


def test_approving_a_draft_needs_coded_lines(accounting_api, contact):
    draft = create_invoice(
        accounting_api, contact.contact_id, [line(account=None, tax=None)], status="DRAFT"
    )
    with pytest.raises(AccountingBadRequestException) as caught:
        _set_status(accounting_api, draft.invoice_id, "AUTHORISED")
    assert error_messages(caught.value) == ["Account code must be specified"]


def test_editing_an_authorised_invoice_recomputes_totals(accounting_api, contact):
    created = create_invoice(accounting_api, contact.contact_id)
    updated = accounting_api.api.update_invoice(
        accounting_api.tenant_id,
        created.invoice_id,
        Invoices(
            invoices=[
                Invoice(line_items=[line(unit="50.00"), line(unit="25.00")], reference="edited")
            ]
        ),
        _request_timeout=TIMEOUT,
    ).invoices[0]
    assert updated.total == Decimal("90.00") and updated.reference == "edited"
    assert updated.status == "AUTHORISED"


def test_get_by_ids_numbers_statuses_and_number_in_path(accounting_api, contact):
    first = create_invoice(accounting_api, contact.contact_id)
    second = create_invoice(accounting_api, contact.contact_id, status="DRAFT")
    api, tenant = accounting_api.api, accounting_api.tenant_id
    by_ids = api.get_invoices(tenant, i_ds=[second.invoice_id], _request_timeout=TIMEOUT).invoices
    assert [i.invoice_id for i in by_ids] == [second.invoice_id]
    by_number = api.get_invoices(
        tenant, invoice_numbers=[first.invoice_number], _request_timeout=TIMEOUT
    )
    assert [i.invoice_id for i in by_number.invoices] == [first.invoice_id]
    drafts = api.get_invoices(tenant, statuses=["DRAFT"], _request_timeout=TIMEOUT).invoices
    assert [i.invoice_id for i in drafts] == [second.invoice_id]


@needs_openapi
def test_invoice_number_in_the_path_works_but_breaks_the_contract(accounting_api, sandbox, contact):
    # Xero answers GET /Invoices/INV-0001, but its description types the path as a uuid:
    # the sandbox answers too and the contract check says the client left the contract.
    first = create_invoice(accounting_api, contact.contact_id)
    assert get_invoice(accounting_api, first.invoice_number).invoice_id == first.invoice_id
    [violation] = sandbox.sandbox.contract_violations
    assert violation.direction == "request" and "is not a 'uuid'" in violation.message
    sandbox.sandbox.contract_violations.clear()


def test_paging_and_if_modified_since(accounting_api, sandbox, contact):
    api, tenant = accounting_api.api, accounting_api.tenant_id
    older = [create_invoice(accounting_api, contact.contact_id) for _ in range(3)]
    sandbox.sandbox.advance_clock(60)
    cutoff = datetime.fromtimestamp(sandbox.sandbox.clock.now(), tz=UTC)
    sandbox.sandbox.advance_clock(60)
    newer = [create_invoice(accounting_api, contact.contact_id) for _ in range(2)]

    page_1 = api.get_invoices(tenant, page=1, page_size=2, _request_timeout=TIMEOUT)
    page_3 = api.get_invoices(tenant, page=3, page_size=2, _request_timeout=TIMEOUT)
    assert len(page_1.invoices) == 2 and len(page_3.invoices) == 1
    assert page_1.pagination.item_count == 5 and page_1.pagination.page_count == 3
    all_ids = [i.invoice_id for i in page_1.invoices] + [i.invoice_id for i in page_3.invoices]
    assert all_ids[:2] == [older[0].invoice_id, older[1].invoice_id]

    since = api.get_invoices(tenant, if_modified_since=cutoff, _request_timeout=TIMEOUT).invoices
    assert {i.invoice_id for i in since} == {i.invoice_id for i in newer}


def test_online_invoice_page_shows_the_invoice(accounting_api, sandbox, contact):
    created = create_invoice(accounting_api, contact.contact_id)
    online = accounting_api.api.get_online_invoice(
        accounting_api.tenant_id, created.invoice_id, _request_timeout=TIMEOUT
    )
    url = online.online_invoices[0].online_invoice_url
    assert url.startswith(sandbox.url + "/_sandbox/invoices/")
    page = urllib3.PoolManager(retries=False).request("GET", url, timeout=5)
    html = page.data.decode()
    assert page.status == 200
    assert created.invoice_number in html and "120.00" in html
    assert "Stripe" in html  # the default theme has Stripe linked

    draft = create_invoice(accounting_api, contact.contact_id, status="DRAFT")
    with pytest.raises(AccountingBadRequestException):
        accounting_api.api.get_online_invoice(
            accounting_api.tenant_id, draft.invoice_id, _request_timeout=TIMEOUT
        )


def test_email_marks_sent_and_keeps_the_email(accounting_api, sandbox, contact):
    created = create_invoice(accounting_api, contact.contact_id)
    accounting_api.api.email_invoice(
        accounting_api.tenant_id, created.invoice_id, {}, _request_timeout=TIMEOUT
    )
    assert get_invoice(accounting_api, created.invoice_id).sent_to_contact is True
    [sent] = sandbox.org.sent_emails
    assert sent.invoice_id == created.invoice_id and sent.to == "accounts@acme.test"


def test_history_records_changes_and_notes(accounting_api, contact):
    created = create_invoice(accounting_api, contact.contact_id)
    accounting_api.api.create_invoice_history(
        accounting_api.tenant_id,
        created.invoice_id,
        HistoryRecords(history_records=[HistoryRecord(details="Synced from portal #42")]),
        _request_timeout=TIMEOUT,
    )
    history = accounting_api.api.get_invoice_history(
        accounting_api.tenant_id, created.invoice_id, _request_timeout=TIMEOUT
    ).history_records
    assert [h.changes for h in history] == ["Created", "Approved", "Note"]
    assert history[-1].details == "Synced from portal #42"
    assert history[-1].user == "Members Portal"
