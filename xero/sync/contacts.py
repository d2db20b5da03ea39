"""Customers to Xero contacts, by the portal's matching rules.

For a customer without a Xero contact id, in this order:
1. a ledger code (when blank: the code the portal would assign it) that exists in Xero as a
   ContactNumber links to that contact;
2. else a contact with the customer's email, 3. else one with exactly its name, links to
   it, provided that contact carries no other contact code;
4. else the portal creates the contact, with the ledger code as its ContactNumber, or, when
   the ledger code is blank, with a code the portal assigns and writes back to the customer.
Xero contact names are unique: a name taken by a contact with another code is shown to the
admin as a clash, never worked around by creating "Name 2".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billing.customers import Customer
from xero.api.errors import ValidationFailed, XeroError
from xero.api.idempotency import idempotency_key
from xero.api.port import XeroPort
from xero.api.records import ContactDetails, XeroContact

#: Customers looked up per GET: two clauses each (code, email) keep the URL near 4 KB.
LOOKUP_CHUNK = 40
BATCH = 50


class NameClash(ValidationFailed):
    pass


@dataclass
class ContactOutcome:
    contact_id: str | None = None
    error: XeroError | None = None
    #: What the portal did to the Xero contact, for its history note ("" for nothing).
    change: str = ""
    #: The portal created the contact just now: Xero's own history records the creation
    #: (with the portal's app as its author), so no note of the portal's is added.
    created: bool = False


def note_changes(
    db: Session, customers: Sequence[Customer], outcomes: dict[int, ContactOutcome], now: datetime
) -> None:
    """Queue a history note on each Xero contact the portal linked or updated. Contacts it
    created get none: Xero's history already says so, and at month end those notes would
    be hundreds of one-call jobs holding the online invoice links back."""
    from xero.models import JobKind
    from xero.sync.outbox import enqueue

    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    for customer in customers:
        outcome = outcomes.get(customer.id)
        if outcome is not None and outcome.change and outcome.contact_id and not outcome.created:
            enqueue(
                db,
                JobKind.CONTACT_NOTE,
                customer.id,
                payload=f"{stamp}: {outcome.change} by the members portal.",
            )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def assigned_code(customer: Customer) -> str:
    return f"CUST-{customer.id:05d}"


def contact_code(customer: Customer) -> str:
    """The ContactNumber that is this customer's: its ledger code, or when that is blank the
    code the portal assigns. A contact carrying the assigned code was created by the portal
    for this very customer (by another worker, or by an attempt whose answer was lost before
    the code was written back), so it is linked, never taken for a clash."""
    return customer.ledger_code or assigned_code(customer)


def contact_details(
    customer: Customer, contact_id: str | None = None, *, with_name: bool = True
) -> ContactDetails:
    """``with_name=False`` leaves the Xero contact's name as it is: an update while "Keep
    client names in sync" is off."""
    return ContactDetails(
        contact_id=contact_id,
        name=customer.name if with_name else None,
        code=customer.ledger_code or None,
        email=customer.email or None,
        address_lines=tuple(line.strip() for line in customer.address.splitlines() if line.strip()),
        phone=customer.phone or None,
    )


def _lookup(
    api: XeroPort, customers: Sequence[Customer], *, by_name: bool = False
) -> list[XeroContact]:
    """Contacts that may be these customers'. Names are looked up only when asked: a new
    contact whose name is taken is refused by Xero, and only then does the name matter (the
    refused ones are looked up again by name), which keeps the common look-up short."""
    found: list[XeroContact] = []
    for start in range(0, len(customers), LOOKUP_CHUNK):
        clauses = []
        for customer in customers[start : start + LOOKUP_CHUNK]:
            clauses.append(f"ContactNumber=={_quote(contact_code(customer))}")
            if customer.email:
                clauses.append(f"EmailAddress=={_quote(customer.email)}")
            if by_name:
                clauses.append(f"Name=={_quote(customer.name)}")
        found.extend(api.find_contacts(" OR ".join(clauses), summary_only=True))
    return found


def _match(
    customer: Customer,
    by_number: dict[str, XeroContact],
    by_email: dict[str, XeroContact],
    by_name: dict[str, XeroContact],
) -> ContactOutcome | None:
    code = contact_code(customer).lower()
    if code in by_number:
        return ContactOutcome(by_number[code].contact_id)
    for index, key in (
        (by_email, (customer.email or "").lower()),
        (by_name, customer.name.lower()),
    ):
        contact = index.get(key) if key else None
        if contact is None:
            continue
        other_code = contact.code.lower()
        if not other_code or other_code == code:
            return ContactOutcome(contact.contact_id)
        if index is by_name:
            return ContactOutcome(
                error=NameClash(
                    [
                        f'A Xero contact named "{contact.name}" already exists with code '
                        f"{contact.code}. Link it by hand on the customer page, or "
                        "rename one of them; the portal never creates a second contact."
                    ]
                )
            )
    return None


def ensure_contacts(
    api: XeroPort, customers: Sequence[Customer], key: str
) -> dict[int, ContactOutcome]:
    """A Xero contact id for every customer, linking or creating as the rules say.

    Links are written onto the customers (xero_contact_id, and a ledger code when the
    portal assigned one); the caller commits.
    """
    outcomes = {c.id: ContactOutcome(c.xero_contact_id) for c in customers if c.xero_contact_id}
    unlinked = [c for c in customers if not c.xero_contact_id]
    if not unlinked:
        return outcomes
    matched, to_create = _link_found(unlinked, _lookup(api, unlinked))
    outcomes.update(matched)
    for start in range(0, len(to_create), BATCH):
        outcomes.update(_create(api, to_create[start : start + BATCH], key))
    return outcomes


def _link_found(
    customers: Sequence[Customer], found: list[XeroContact]
) -> tuple[dict[int, ContactOutcome], list[Customer]]:
    """Match customers against the contacts found; link the matches. Returns the outcomes
    and the customers nothing matched."""
    by_number = {c.code.lower(): c for c in found if c.code}
    by_email = {c.email.lower(): c for c in found if c.email}
    by_name = {c.name.lower(): c for c in found}
    outcomes: dict[int, ContactOutcome] = {}
    unmatched: list[Customer] = []
    for customer in customers:
        outcome = _match(customer, by_number, by_email, by_name)
        if outcome is None:
            unmatched.append(customer)
            continue
        outcomes[customer.id] = outcome
        if outcome.contact_id:
            customer.xero_contact_id = outcome.contact_id
            by_code = by_number.get(contact_code(customer).lower())
            if not customer.ledger_code and by_code is not None:
                # The portal's own assigned code: write it back, as creating it would have.
                customer.ledger_code = assigned_code(customer)
            code = customer.ledger_code or "no ledger code"
            outcome.change = f"Linked to portal customer {customer.name} ({code})"
    return outcomes, unmatched


def _create(api: XeroPort, customers: list[Customer], key: str) -> dict[int, ContactOutcome]:
    for customer in customers:
        if not customer.ledger_code:
            customer.ledger_code = assigned_code(customer)
    batch_key = idempotency_key(key, ",".join(str(c.id) for c in customers))
    answer = api.create_contacts([contact_details(c) for c in customers], idempotency_key=batch_key)
    outcomes = {}
    refused: list[Customer] = []
    for customer, contact in zip(customers, answer, strict=False):
        errors = list(contact.errors)
        if errors or not contact.contact_id:
            outcomes[customer.id] = ContactOutcome(error=ValidationFailed(errors))
            refused.append(customer)
            continue
        customer.xero_contact_id = contact.contact_id
        outcomes[customer.id] = ContactOutcome(
            contact.contact_id,
            change=f"Created from portal customer {customer.name} with code {customer.ledger_code}",
            created=True,
        )
    if refused:
        # Another worker may have created the same customer's contact since our look-up
        # (Xero then refuses the name as taken): look again and link what now matches.
        matched, _ = _link_found(refused, _lookup(api, refused, by_name=True))
        outcomes.update(matched)
    return outcomes


def update_contacts(
    api: XeroPort, customers: Sequence[Customer], key: str, *, rename: bool
) -> dict[int, ContactOutcome]:
    """Send linked customers' current details to their Xero contacts (one POST a batch).

    ``rename``: the organisation's "Keep client names in sync"; when off, the Xero contact
    keeps the name it has there, whatever the portal calls the customer."""
    outcomes: dict[int, ContactOutcome] = {}
    fields = "Name, code" if rename else "Code"
    for start in range(0, len(customers), BATCH):
        chunk = list(customers[start : start + BATCH])
        answer = api.update_contacts(
            [contact_details(c, c.xero_contact_id, with_name=rename) for c in chunk],
            idempotency_key=f"{key}-{start}",
        )
        for customer, contact in zip(chunk, answer, strict=False):
            errors = list(contact.errors)
            outcomes[customer.id] = (
                ContactOutcome(error=ValidationFailed(errors))
                if errors
                else ContactOutcome(
                    contact.contact_id,
                    change=f"{fields}, email, phone and address set from portal customer "
                    f"{customer.name}",
                )
            )
    return outcomes


def add_history_note(api: XeroPort, contact_id: str, text: str, key: str | None = None) -> None:
    """``key``: the note job's own, so a retry after a lost answer does not add it twice."""
    api.add_contact_history(contact_id, text, idempotency_key=key)
