"""Contacts: list with where/searchTerm/IDs/paging, get, create/update, history."""

from __future__ import annotations

from flask import Blueprint, request

from ..errors import json_response, not_found
from ..ledger.contacts import prepare_contact
from ..serialise import contact_json, envelope
from .common import (
    body_json,
    elements,
    filtered,
    flag,
    ids_arg,
    modified_since,
    organisation,
    paged,
    sandbox,
    write_batch,
)
from .history import history_endpoint


def list_contacts():
    org = organisation()
    since = modified_since()
    ids = ids_arg("IDs")
    term = (request.args.get("searchTerm") or "").casefold()
    include_archived = flag("includeArchived", False)
    with sandbox().lock:
        contacts = [
            c
            for c in org.contacts.values()
            if (include_archived or c.status == "ACTIVE" or ids)
            and (ids is None or c.contact_id in ids)
            and (since is None or c.updated >= since)
        ]
        items = [contact_json(c) for c in contacts]
    if term:
        searchable = ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")
        items = [i for i in items if any(term in str(i.get(k, "")).casefold() for k in searchable)]
    items, extra = paged(filtered(items))
    return json_response(envelope("Contacts", items, sandbox().clock.now(), **extra))


def get_contact(contact_id: str):
    org = organisation()
    with sandbox().lock:
        contact = org.contacts.get(contact_id.lower()) or next(
            (c for c in org.contacts.values() if c.contact_number == contact_id), None
        )
        if contact is None:
            return not_found()
        return json_response(envelope("Contacts", [contact_json(contact)], sandbox().clock.now()))


def write_contacts():
    org = organisation()
    items = elements(body_json(), "Contacts")
    return write_batch(
        "Contacts",
        items,
        lambda item, batch: prepare_contact(org, item, batch),
        contact_json,
        "ContactID",
        flag("summarizeErrors", True),
    )


def update_contact(contact_id: str):
    org = organisation()
    if contact_id.lower() not in org.contacts:
        return not_found()
    items = elements(body_json(), "Contacts")
    return write_batch(
        "Contacts",
        items[:1],
        lambda item, batch: prepare_contact(org, item, batch, contact_id=contact_id),
        contact_json,
        "ContactID",
        True,
    )


def contact_history(contact_id: str):
    org = organisation()
    with sandbox().lock:
        contact = org.contacts.get(contact_id.lower())
        if contact is None:
            return not_found()
        return history_endpoint(contact.history, sandbox().clock.now())


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/Contacts", view_func=list_contacts)
    bp.add_url_rule(
        "/Contacts", view_func=write_contacts, methods=["PUT", "POST"], endpoint="write_contacts"
    )
    bp.add_url_rule("/Contacts/<contact_id>", view_func=get_contact)
    bp.add_url_rule(
        "/Contacts/<contact_id>",
        view_func=update_contact,
        methods=["POST"],
        endpoint="update_contact",
    )
    bp.add_url_rule(
        "/Contacts/<contact_id>/History", view_func=contact_history, methods=["GET", "PUT"]
    )
