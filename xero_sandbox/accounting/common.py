"""What every accounting endpoint shares: the organisation, batches, filters and paging."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request

from ..errors import ValidationFailure, bad_request, json_response, validation_exception
from ..ledger.batch import Batch
from ..serialise import envelope
from ..state import Organisation
from ..where import compile_where
from ..xerojson import loads, parse_timestamp

ZERO_ID = "00000000-0000-0000-0000-000000000000"


class BadRequest(Exception):
    """Answered as Xero's 400 for a request it cannot read."""


def sandbox():
    return current_app.extensions["xero_sandbox"]


def organisation() -> Organisation:
    return g.xero_organisation


def new_batch() -> Batch:
    return Batch(now=sandbox().clock.now(), user=g.get("xero_app_name", "Sandbox app"))


def body_json() -> Any:
    try:
        return loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc


def elements(body: Any, collection: str) -> list[dict]:
    """The objects of a write: ``{"Invoices": [...]}`` or a single object."""
    items = body[collection] if isinstance(body, dict) and collection in body else [body]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadRequest(f"Expected {collection} to be a list of objects")
    return items


def flag(name: str, default: bool) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("false", "0", "no")


def unitdp() -> int:
    return 4 if request.args.get("unitdp") == "4" else 2


def write_batch(
    collection: str,
    items: list[dict],
    prepare: Callable[[dict, Batch], Callable[[], Any]],
    to_json: Callable[[Any], dict],
    id_key: str,
    summarize: bool,
) -> Response:
    """Validate every element, then save all (or, with summarizeErrors=false, the good ones).

    With summarizeErrors=true (Xero's default) one bad element fails the whole request with
    400 and nothing is saved; with false the answer is 200, good elements are saved and each
    bad one comes back with its own ValidationErrors.
    """
    batch = new_batch()
    org = organisation()
    changes: list[tuple[str, str]] = []
    with sandbox().lock:
        existing = set(org.invoices)
        outcomes: list[tuple[dict, Callable[[], Any] | None, list[str]]] = []
        for item in items:
            try:
                outcomes.append((item, prepare(item, batch), []))
            except ValidationFailure as failure:
                outcomes.append((item, None, failure.messages))
        failed = [(item, messages) for item, plan, messages in outcomes if plan is None]
        if summarize and failed:
            return validation_exception(
                [_error_element(item, messages, id_key) for item, messages in failed]
            )
        results = []
        for item, plan, messages in outcomes:
            if plan is None:
                results.append(_error_element(item, messages, id_key))
            else:
                saved = to_json(plan())
                if not summarize:
                    saved["StatusAttributeString"] = "OK"
                results.append(saved)
                changes.extend(_invoice_changes(collection, saved, existing))
        response = json_response(envelope(collection, results, batch.now))
    # Xero's INVOICE webhook for every invoice the write created or changed.
    sandbox().webhooks.invoice_events(org.tenant_id, list(dict.fromkeys(changes)))
    return response


def _invoice_changes(collection: str, saved: dict, existing: set[str]) -> list[tuple[str, str]]:
    if collection == "Invoices" and saved.get("InvoiceID"):
        invoice_id = str(saved["InvoiceID"]).lower()
        return [(invoice_id, "UPDATE" if invoice_id in existing else "CREATE")]
    if collection == "Payments" and (saved.get("Invoice") or {}).get("InvoiceID"):
        return [(str(saved["Invoice"]["InvoiceID"]).lower(), "UPDATE")]
    return []


def _error_element(item: dict, messages: list[str], id_key: str) -> dict:
    element = dict(item)
    element.setdefault(id_key, ZERO_ID)
    element["HasErrors" if id_key != "ContactID" else "HasValidationErrors"] = True
    element["StatusAttributeString"] = "ERROR"
    element["ValidationErrors"] = [{"Message": m} for m in messages]
    return element


def filtered(items: list[dict]) -> list[dict]:
    where = request.args.get("where")
    if where:
        try:
            predicate = compile_where(where)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        items = [i for i in items if predicate(i)]
    order = request.args.get("order")
    if order:
        field, _, direction = order.strip().partition(" ")
        items = sorted(
            items,
            key=lambda i: (i.get(field) is None, str(i.get(field, ""))),
            reverse=direction.strip().upper() == "DESC",
        )
    return items


def modified_since() -> float | None:
    value = request.headers.get("If-Modified-Since")
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"If-Modified-Since is not a date: {value}") from exc


def paged(
    items: list[Any], default_size: int = 100, max_size: int = 1000
) -> tuple[list[Any], dict]:
    """One page when ``page`` is given (1-based), with Xero's ``pagination`` block."""
    page_arg = request.args.get("page")
    if page_arg is None:
        return items, {}
    try:
        page = max(1, int(page_arg))
        size = min(max_size, max(1, int(request.args.get("pageSize", default_size))))
    except ValueError as exc:
        raise BadRequest("page and pageSize must be whole numbers") from exc
    start = (page - 1) * size
    pagination = {
        "page": page,
        "pageSize": size,
        "pageCount": math.ceil(len(items) / size),
        "itemCount": len(items),
    }
    return items[start : start + size], {"pagination": pagination}


def ids_arg(name: str) -> set[str] | None:
    value = request.args.get(name)
    if not value:
        return None
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def handle_bad_request(exc: BadRequest) -> Response:
    return bad_request(str(exc))
