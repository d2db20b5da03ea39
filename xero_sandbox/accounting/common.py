"""What every accounting endpoint shares: the organisation, batches, filters and paging."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Response, current_app, g, request

from ..errors import (
    ValidationFailure,
    bad_request,
    json_response,
    not_found,
    validation_exception,
)
from ..ledger.batch import Batch
from ..serialise import SUMMARY_OMITS, envelope, summary
from ..state import Organisation
from ..where import compile_where, lookup
from ..xerojson import comparable, loads, parse_timestamp

if TYPE_CHECKING:
    from ..sandbox import Sandbox

ZERO_ID = "00000000-0000-0000-0000-000000000000"
#: A Flask view, as the blueprint calls it.
View = Callable[..., Any]


class BadRequest(Exception):
    """Answered as Xero's 400 for a request it cannot read."""


def sandbox() -> Sandbox:
    return cast("Sandbox", current_app.extensions["xero_sandbox"])


def organisation() -> Organisation:
    return cast(Organisation, g.xero_organisation)


def today() -> date:
    """The organisation's day by the sandbox clock (UTC), for what is overdue."""
    return datetime.fromtimestamp(sandbox().clock.now(), tz=UTC).date()


def new_batch() -> Batch:
    return Batch(now=sandbox().clock.now(), user=g.get("xero_app_name", "Sandbox app"))


def body_json() -> Any:
    try:
        return loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc


def elements(body: Any, collection: str) -> list[dict[str, Any]]:
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
    items: list[dict[str, Any]],
    prepare: Callable[[dict[str, Any], Batch], Callable[[], Any]],
    to_json: Callable[[Any], dict[str, Any]],
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
        outcomes: list[tuple[dict[str, Any], Callable[[], Any] | None, list[str]]] = []
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


def _invoice_changes(
    collection: str, saved: dict[str, Any], existing: set[str]
) -> list[tuple[str, str]]:
    if collection == "Invoices" and saved.get("InvoiceID"):
        invoice_id = str(saved["InvoiceID"]).lower()
        return [(invoice_id, "UPDATE" if invoice_id in existing else "CREATE")]
    if collection == "Payments" and (saved.get("Invoice") or {}).get("InvoiceID"):
        return [(str(saved["Invoice"]["InvoiceID"]).lower(), "UPDATE")]
    return []


def _error_element(item: dict[str, Any], messages: list[str], id_key: str) -> dict[str, Any]:
    element = dict(item)
    element.setdefault(id_key, ZERO_ID)
    element["HasErrors" if id_key != "ContactID" else "HasValidationErrors"] = True
    element["StatusAttributeString"] = "ERROR"
    element["ValidationErrors"] = [{"Message": m} for m in messages]
    return element


def filtered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    where = request.args.get("where")
    if where:
        try:
            predicate = compile_where(where)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        items = [i for i in items if predicate(i)]
    order = request.args.get("order")
    if order:
        items = ordered(items, order)
    return items


def ordered(items: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    """``order=Field [ASC|DESC][, Field ...]``: numbers and dates by value, text ignoring
    case; missing values after the rest (before them when descending)."""
    for clause in reversed([c.strip() for c in order.split(",") if c.strip()]):
        field, _, direction = clause.partition(" ")
        items = sorted(
            items,
            key=partial(_field_key, field),
            reverse=direction.strip().upper() == "DESC",
        )
    return items


def _field_key(field: str, item: dict[str, Any]) -> tuple[bool, int, Any]:
    return _sort_key(lookup(item, field))


def _sort_key(value: Any) -> tuple[bool, int, Any]:
    """Values of one kind compare with each other; kinds never meet (the int ranks them)."""
    value = comparable(value)
    if value is None:
        return (True, 0, 0)
    if isinstance(value, bool):
        return (False, 1, value)
    if isinstance(value, Decimal):
        return (False, 0, value)
    if isinstance(value, datetime):
        return (False, 2, value)
    return (False, 3, str(value).casefold())


def list_answer(
    collection: str,
    objects: Iterable[Any],
    to_json: Callable[[Any], dict[str, Any]],
    keep: Callable[[Any], bool] | None = None,
    refine: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> Response:
    """GET of a collection: the objects ``keep`` keeps that changed since If-Modified-Since,
    as JSON, ``refine``-d (a search), in summary when summaryOnly=true asks for it, then
    filtered (where), ordered and paged. ``objects`` is read under the sandbox lock."""
    since = modified_since()
    with sandbox().lock:
        items = [
            to_json(o)
            for o in objects
            if (since is None or o.updated >= since) and (keep is None or keep(o))
        ]
    if refine is not None:
        items = refine(items)
    if collection in SUMMARY_OMITS and flag("summaryOnly", False):
        items = [summary(collection, i) for i in items]
    items, extra = paged(filtered(items))
    return json_response(envelope(collection, items, sandbox().clock.now(), **extra))


def summarize_errors() -> bool:
    """PUT takes summarizeErrors (a batch); POST of one object always summarises."""
    return flag("summarizeErrors", True) if request.method == "PUT" else True


def register_collection(
    bp: Blueprint,
    collection: str,
    ref: str,
    views: tuple[View, View, View, View],
    history_of: Callable[[str], Any] | None = None,
) -> None:
    """Xero's routes for a collection: ``views`` answer GET and PUT/POST on it, then GET and
    POST (an update) on one object; ``history_of`` finds the object whose History GET lists
    and PUT adds notes to."""
    list_view, write_view, get_view, update_view = views
    bp.add_url_rule(f"/{collection}", view_func=list_view)
    bp.add_url_rule(
        f"/{collection}",
        view_func=write_view,
        methods=["PUT", "POST"],
        endpoint=write_view.__name__,
    )
    bp.add_url_rule(f"/{collection}/<{ref}>", view_func=get_view)
    bp.add_url_rule(
        f"/{collection}/<{ref}>",
        view_func=update_view,
        methods=["POST"],
        endpoint=update_view.__name__,
    )
    if history_of is None:
        return

    def history(**refs: str) -> Response:
        from .history import history_endpoint  # history.py builds on this module

        with sandbox().lock:
            found = history_of(refs[ref])
            if found is None:
                return not_found()
            return history_endpoint(found.history, sandbox().clock.now())

    bp.add_url_rule(
        f"/{collection}/<{ref}>/History",
        view_func=history,
        methods=["GET", "PUT"],
        endpoint=f"{collection.lower()}_history",
    )


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
) -> tuple[list[Any], dict[str, Any]]:
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
