"""A customer's Xero contact, as an admin sees and fixes it: the contact read live from Xero,
a look-up by name, email or code, linking one, and changing the id by hand.

The worker links and creates contacts by the matching rules (``xero.sync.contacts``); this is the
admin's way to settle what those rules cannot (a name clash, a contact merged in Xero).
Every change of a customer's Xero contact id is written to the audit log with the old and
the new id. Flushes, never commits; the read transaction is ended before Xero is called
(``billing.db.outside_transaction``): the rate limiter counts each call in a transaction of
its own, and SQLite has a single writer, so a request still holding its transaction would
make that wait for itself. Nothing has been written at that point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.customers import Customer
from billing.db import outside_transaction, utcnow
from xero.api.errors import AuthLost, NotConnected, NotFound, XeroError
from xero.api.port import XeroPort
from xero.api.records import ContactAddress, XeroContact
from xero.models import AuditEntry, JobKind
from xero.sync.outbox import enqueue

if TYPE_CHECKING:
    from xero.integration import XeroIntegration

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: Look-up results shown at most (Xero's first page holds 100).
MAX_RESULTS = 25
MAX_TERM = 100


class ContactLinkError(Exception):
    """A link or change the portal refuses; ``str`` tells the admin why."""


class MalformedContactId(ContactLinkError):
    pass


class ConfirmationMismatch(ContactLinkError):
    pass


class ContactIdTaken(ContactLinkError):
    pass


@dataclass(frozen=True)
class XeroContactView:
    """The fields of a Xero contact the customer page shows beside the portal's."""

    contact_id: str
    name: str
    code: str
    email: str
    status: str
    address_lines: list[str] = field(default_factory=list)
    #: Contact.Balances.AccountsReceivable.Outstanding; None when Xero did not send it.
    outstanding: Decimal | None = None
    overdue: Decimal | None = None

    @classmethod
    def from_record(cls, contact: XeroContact) -> XeroContactView:
        return cls(
            contact_id=contact.contact_id,
            name=contact.name,
            code=contact.code,
            email=contact.email,
            status=contact.status,
            address_lines=_address_lines(contact.addresses),
            outstanding=contact.outstanding,
            overdue=contact.overdue,
        )


def _address_lines(addresses: Sequence[ContactAddress]) -> list[str]:
    """The first address that has anything in it (POBOX, the one the portal writes, first)."""
    ordered = sorted(addresses, key=lambda a: a.address_type != "POBOX")
    for address in ordered:
        lines = [
            address.attention_to,
            address.line1,
            address.line2,
            address.line3,
            address.line4,
            " ".join(p for p in (address.city, address.region, address.postal_code) if p),
            address.country,
        ]
        lines = [line.strip() for line in lines if line and line.strip()]
        if lines:
            return lines
    return []


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_contact(api: XeroPort, contact_id: str) -> XeroContactView:
    contacts = api.get_contact(contact_id)
    if not contacts:
        raise NotFound("Xero has no such contact")
    return XeroContactView.from_record(contacts[0])


def search_contacts(api: XeroPort, term: str) -> list[XeroContactView]:
    """Contacts whose name, email or code contain ``term`` (Xero's searchTerm)."""
    term = term.strip()[:MAX_TERM]
    if not term:
        return []
    found = api.find_contacts(search_term=term, first_page=True)
    return [XeroContactView.from_record(c) for c in found[:MAX_RESULTS]]


def contacts_with_code(api: XeroPort, code: str) -> list[XeroContactView]:
    found = api.find_contacts(f"ContactNumber=={_quote(code)}", first_page=True)
    return [XeroContactView.from_record(c) for c in found]


@dataclass
class XeroSide:
    """The Xero half of the customer's side-by-side page."""

    connected: bool = True
    contact: XeroContactView | None = None
    #: Xero's answer when something went wrong, fit to show the admin.
    error: str = ""
    #: Contacts carrying the customer's ledger code; None when it was not looked up.
    with_code: list[XeroContactView] | None = None
    results: list[XeroContactView] | None = None

    @property
    def ledger_code_missing(self) -> bool:
        return self.with_code is not None and not self.with_code


def xero_side(
    db: Session, service: XeroIntegration, customer: Customer, term: str = ""
) -> XeroSide:
    """Read the linked contact, whether the ledger code is in Xero, and the look-up's results.

    Errors from Xero become a message on the page; the calls made before one are kept.
    """
    side = XeroSide()
    contact_id, code = customer.xero_contact_id, customer.ledger_code
    try:
        api = service.api(db)
        outside_transaction(db)
        if contact_id:
            try:
                side.contact = fetch_contact(api, contact_id)
            except NotFound:
                side.error = f"Xero has no contact with the id {contact_id}."
        if code:
            if side.contact is not None and side.contact.code.lower() == code.lower():
                side.with_code = [side.contact]
            else:
                side.with_code = contacts_with_code(api, code)
        if term.strip():
            side.results = search_contacts(api, term)
    except NotConnected:
        side.connected = False
    except AuthLost as error:
        side.connected = False
        side.error = f"{error}. Connect Xero again."
    except XeroError as error:
        side.error = f"Xero could not be reached: {error}"
    return side


def _check_free(db: Session, customer: Customer, contact_id: str) -> None:
    other = db.scalar(
        select(Customer).where(Customer.xero_contact_id == contact_id, Customer.id != customer.id)
    )
    if other is not None:
        raise ContactIdTaken(
            f"That Xero contact is already linked to {other.name}. "
            "Two customers cannot share a Xero contact."
        )


def normalised_id(raw: str) -> str:
    value = (raw or "").strip().lower()
    if not GUID.match(value):
        raise MalformedContactId(
            "A Xero contact id looks like 8-4-4-4-12 hexadecimal digits, "
            "such as 0f3c2f1e-6a5b-4c3d-8e9f-0a1b2c3d4e5f."
        )
    return value


def _set_contact_id(
    db: Session, customer: Customer, new_id: str | None, user_id: int | None, action: str
) -> None:
    old_id = customer.xero_contact_id
    customer.xero_contact_id = new_id
    db.add(
        AuditEntry(
            user_id=user_id,
            action=action,
            subject=f"customer {customer.id}",
            detail=f"{customer.name}: Xero contact id {old_id or 'none'} -> {new_id or 'none'}",
        )
    )
    if new_id:
        stamp = utcnow().strftime("%Y-%m-%d %H:%M UTC")
        enqueue(
            db,
            JobKind.CONTACT_NOTE,
            customer.id,
            payload=f"{stamp}: Linked to portal customer {customer.name} by an admin of the "
            "members portal.",
        )
    db.flush()


def link_contact(
    db: Session, customer: Customer, contact: XeroContactView, user_id: int | None
) -> None:
    """Link a contact the admin found in Xero (the caller fetched it, so it exists)."""
    contact_id = normalised_id(contact.contact_id)
    if customer.xero_contact_id == contact_id:
        return
    _check_free(db, customer, contact_id)
    _set_contact_id(db, customer, contact_id, user_id, "customer.xero_link")


def change_contact_id(
    db: Session, customer: Customer, raw_id: str, typed_name: str, user_id: int | None
) -> None:
    """Set the id by hand, or clear it with a blank id; the admin must type the customer's
    name exactly, so that a change meant for another customer never lands on this one."""
    if typed_name != customer.name:
        raise ConfirmationMismatch(
            "The name typed does not match this customer's name exactly; nothing was changed."
        )
    new_id = normalised_id(raw_id) if (raw_id or "").strip() else None
    if new_id == customer.xero_contact_id:
        return
    if new_id:
        _check_free(db, customer, new_id)
    _set_contact_id(db, customer, new_id, user_id, "customer.xero_contact_id_changed")
