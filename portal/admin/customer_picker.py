"""The customer picker: a text box that searches as the admin types (the ``search`` JSON
endpoint below, read by ``portal/static/js/customer_picker.js``) and a hidden customer id.

A page with a picker never lists every customer: the form sends one id (or, typed without
scripts, one exact name or ledger code) and the POST reads that one row.
"""

from __future__ import annotations

from flask import jsonify, request

from billing.customers import (
    SEARCH_MAX_LENGTH,
    Customer,
    CustomerNotChosen,
    customer_named,
    search_customers,
)
from portal.admin import bp
from portal.converters import MAX_ID
from portal.db import get_db
from portal.views import QUERY_ID

UNKNOWN_ID = "That customer does not exist (any more): type part of a name and pick again."


@bp.get("/customers/search")
def search_customers_json():
    """``?q=`` -> up to 20 customers as JSON, best first (``billing.customers.search_customers``).

    Blank text answers ``[]``; text longer than any name is a 400 with a message (NUL and
    other control characters are refused for every query string in ``portal.errors``)."""
    query = request.args.get("q", "")
    if len(query) > SEARCH_MAX_LENGTH:
        response = jsonify(error=f"Search for at most {SEARCH_MAX_LENGTH} characters.")
        response.status_code = 400
        return response
    return jsonify(
        [
            {
                "id": c.id,
                "name": c.name,
                "email": c.email,
                "ledger_code": c.ledger_code or "",
                "is_test": c.is_test,
            }
            for c in search_customers(get_db(), query)
        ]
    )


def parse_customer_id(raw: str) -> int | None:
    """A posted customer id: plain ASCII digits naming a possible row (1..``MAX_ID``), else
    None. The length is checked before ``int()`` (CPython refuses 4,300+ digits)."""
    if not QUERY_ID.fullmatch(raw) or len(raw) > len(str(MAX_ID)):
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_ID else None


def chosen_customer(id_field, text_field) -> Customer | None:
    """The customer a submitted picker names, or None with the reason on ``text_field``.

    The hidden id wins when the text still shows that customer (what the script sends). A
    page used without scripts sends the text alone, or the id it was opened with beside
    text the admin has since changed: then the text is resolved, as an exact ledger code or
    name. An id that is not a possible id, or names no customer, is refused, never guessed
    around. On success both fields are set to the customer, so a form that comes back
    with other errors still shows the chosen name."""
    raw_id = (id_field.data or "").strip()
    text = (text_field.data or "").strip()
    customer = None
    if raw_id:
        customer_id = parse_customer_id(raw_id)
        customer = get_db().get(Customer, customer_id) if customer_id else None
        if customer is None:
            text_field.errors = [*text_field.errors, UNKNOWN_ID]
            return None
        if text and text.casefold() not in {
            customer.name.strip().casefold(),
            (customer.ledger_code or "").casefold(),
        }:
            customer = None  # the admin typed another customer over the one the page had
    if customer is None:
        try:
            customer = customer_named(get_db(), text)
        except CustomerNotChosen as error:
            text_field.errors = [*text_field.errors, str(error)]
            return None
    show(id_field, text_field, customer)
    return customer


def show(id_field, text_field, customer: Customer | None) -> None:
    """Fill a picker with ``customer`` (or empty it)."""
    id_field.data = str(customer.id) if customer else ""
    text_field.data = customer.name if customer else ""
