"""Contacts: list with where/searchTerm/IDs/paging, get, create/update, history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..errors import json_response, not_found
from ..ledger.contacts import prepare_contact
from ..serialise import balances_by_contact, contact_json, envelope
from .common import (
    body_json,
    elements,
    flag,
    ids_arg,
    list_answer,
    organisation,
    register_collection,
    sandbox,
    today,
    write_batch,
)


def list_contacts() -> ResponseReturnValue:
    org = organisation()
    ids = ids_arg("IDs")
    term = (request.args.get("searchTerm") or "").casefold()
    include_archived = flag("includeArchived", False)
    searchable = ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")

    def search(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if any(term in str(i.get(k, "")).casefold() for k in searchable)]

    with sandbox().lock:  # re-entrant: list_answer reads the contacts under it again
        # Balances are computed only when the answer carries them (not with summaryOnly).
        balances = {} if flag("summaryOnly", False) else balances_by_contact(org, today())
        return list_answer(
            "Contacts",
            org.contacts.values(),
            lambda c: contact_json(c, balances.get(c.contact_id)),
            keep=lambda c: (
                (include_archived or c.status == "ACTIVE" or bool(ids))
                and (ids is None or c.contact_id in ids)
            ),
            refine=search if term else None,
        )


def get_contact(contact_id: str) -> ResponseReturnValue:
    org = organisation()
    with sandbox().lock:
        contact = org.contacts.get(contact_id.lower()) or next(
            (c for c in org.contacts.values() if c.contact_number == contact_id), None
        )
        if contact is None:
            return not_found()
        data = contact_json(contact, balances_by_contact(org, today()).get(contact.contact_id))
        return json_response(envelope("Contacts", [data], sandbox().clock.now()))


def write_contacts() -> ResponseReturnValue:
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


def update_contact(contact_id: str) -> ResponseReturnValue:
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


def register(bp: Blueprint) -> None:
    register_collection(
        bp,
        "Contacts",
        "contact_id",
        (list_contacts, write_contacts, get_contact, update_contact),
        history_of=lambda ref: organisation().contacts.get(ref.lower()),
    )
