"""Creating and updating contacts. Xero contact names are unique among active contacts."""

from __future__ import annotations

import re
from typing import Any

from .. import rules
from ..errors import ValidationFailure
from ..state import Contact, HistoryRecord, Organisation, new_id
from .batch import Batch, Plan

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_FIELDS = {
    "Name": "name",
    "ContactNumber": "contact_number",
    "AccountNumber": "account_number",
    "EmailAddress": "email_address",
    "FirstName": "first_name",
    "LastName": "last_name",
}

#: Writable fields the sandbox does not interpret but keeps and echoes back.
_PASSTHROUGH = frozenset(
    {
        "Addresses",
        "Phones",
        "TaxNumber",
        "AccountsReceivableTaxType",
        "AccountsPayableTaxType",
        "DefaultCurrency",
        "CompanyNumber",
        "Website",
        "ContactPersons",
        "BankAccountDetails",
        "SkypeUserName",
        "PaymentTerms",
    }
)


def prepare_contact(
    org: Organisation, data: dict[str, Any], batch: Batch, contact_id: str | None = None
) -> Plan:
    existing = None
    target_id = contact_id or data.get("ContactID")
    if target_id:
        existing = org.contacts.get(str(target_id).lower())
        if existing is None:
            raise ValidationFailure(rules.CONTACT_NOT_FOUND)

    messages: list[str] = []
    name = data.get("Name", existing.name if existing else None)
    name = name.strip() if isinstance(name, str) else name
    if not name:
        messages.append(rules.CONTACT_NAME_EMPTY)
    else:
        holder = org.contact_by_name(name)
        taken_here = name.casefold() in batch.contact_names
        if taken_here or (holder is not None and holder is not existing):
            messages.append(rules.contact_name_taken(name))
    email = data.get("EmailAddress")
    if email and not _EMAIL.match(str(email)):
        messages.append(rules.EMAIL_INVALID)
    status = data.get("ContactStatus")
    if status is not None and status not in ("ACTIVE", "ARCHIVED"):
        messages.append(f"ContactStatus {status} is not valid")  # sandbox wording
    if messages:
        raise ValidationFailure(*messages)
    assert isinstance(name, str)  # an empty name was a message above
    batch.contact_names.add(name.casefold())

    def apply() -> Contact:
        contact = existing or Contact(new_id(), name, batch.now)
        for key, attr in _FIELDS.items():
            if key in data:
                value = data[key]
                setattr(contact, attr, value.strip() if isinstance(value, str) else value)
        if status is not None:
            contact.status = status
        for key in _PASSTHROUGH & data.keys():
            contact.extra[key] = data[key]
        contact.updated = batch.now
        if existing is None:
            org.contacts[contact.contact_id] = contact
            contact.history.append(
                HistoryRecord("Created", f"Contact {contact.name} created.", batch.user, batch.now)
            )
        else:
            contact.history.append(
                HistoryRecord("Edited", f"Contact {contact.name} updated.", batch.user, batch.now)
            )
        return contact

    return apply
