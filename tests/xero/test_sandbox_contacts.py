"""Contacts through xero-python: unique names, filters, search, paging, history."""

from __future__ import annotations

import pytest
from xero_python.accounting import Contact, Contacts, HistoryRecord, HistoryRecords
from xero_python.exceptions import AccountingBadRequestException

from .builders import create_contact, error_messages
from .conftest import TIMEOUT


def test_create_read_and_update(accounting_api):
    created = create_contact(
        accounting_api, "Acme Desk Co", contact_number="CUST-1", email_address="ap@acme.test"
    )
    api, tenant = accounting_api.api, accounting_api.tenant_id
    read = api.get_contact(tenant, created.contact_id, _request_timeout=TIMEOUT).contacts[0]
    assert (read.name, read.contact_number, read.email_address) == (
        "Acme Desk Co",
        "CUST-1",
        "ap@acme.test",
    )
    updated = api.update_contact(
        tenant,
        created.contact_id,
        Contacts(contacts=[Contact(email_address="billing@acme.test")]),
        _request_timeout=TIMEOUT,
    ).contacts[0]
    assert updated.email_address == "billing@acme.test" and updated.name == "Acme Desk Co"


def test_contact_names_are_unique(accounting_api):
    create_contact(accounting_api, "Acme Desk Co")
    with pytest.raises(AccountingBadRequestException) as caught:
        create_contact(accounting_api, "acme desk co ")
    assert error_messages(caught.value) == [
        "The contact name acme desk co is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    ]


def test_batch_with_a_bad_email_and_summarize_errors_false(accounting_api):
    result = accounting_api.api.create_contacts(
        accounting_api.tenant_id,
        Contacts(contacts=[Contact(name="Good Co"), Contact(name="Bad Co", email_address="nope")]),
        summarize_errors=False,
        _request_timeout=TIMEOUT,
    )
    good, bad = result.contacts
    assert good.status_attribute_string == "OK"
    assert bad.has_validation_errors is True
    assert [e.message for e in bad.validation_errors] == ["Email address must be valid."]


def test_where_search_ids_and_paging(accounting_api):
    api, tenant = accounting_api.api, accounting_api.tenant_id
    acme = create_contact(
        accounting_api, "Acme Desk Co", contact_number="C-1", email_address="a@acme.test"
    )
    create_contact(accounting_api, "Beta Studio", contact_number="C-2", email_address="b@beta.test")
    gamma = create_contact(
        accounting_api, "Gamma Labs", contact_number="C-3", email_address="a@acme.test"
    )

    def names(**kwargs):
        found = api.get_contacts(tenant, _request_timeout=TIMEOUT, **kwargs).contacts
        return sorted(c.name for c in found)

    assert names(where='ContactNumber=="C-2"') == ["Beta Studio"]
    assert names(where='EmailAddress=="A@ACME.TEST"') == ["Acme Desk Co", "Gamma Labs"]
    assert names(where='EmailAddress=="a@acme.test" AND Name=="Gamma Labs"') == ["Gamma Labs"]
    assert names(where='Name=="Nobody"') == []
    assert names(search_term="studio") == ["Beta Studio"]
    assert names(i_ds=[acme.contact_id, gamma.contact_id]) == ["Acme Desk Co", "Gamma Labs"]
    page_2 = api.get_contacts(tenant, page=2, page_size=2, _request_timeout=TIMEOUT)
    assert [c.name for c in page_2.contacts] == ["Gamma Labs"]
    assert page_2.pagination.item_count == 3


def test_contact_history(accounting_api):
    created = create_contact(accounting_api, "Acme Desk Co")
    api, tenant = accounting_api.api, accounting_api.tenant_id
    api.create_contact_history(
        tenant,
        created.contact_id,
        HistoryRecords(history_records=[HistoryRecord(details="Linked to portal customer 7")]),
        _request_timeout=TIMEOUT,
    )
    history = api.get_contact_history(tenant, created.contact_id, _request_timeout=TIMEOUT)
    assert [h.changes for h in history.history_records] == ["Created", "Note"]
    assert history.history_records[1].details == "Linked to portal customer 7"
