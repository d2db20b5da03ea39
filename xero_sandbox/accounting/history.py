"""History and notes: Xero's audit trail on contacts, invoices and payments."""

from __future__ import annotations

from flask import Response, request

from ..errors import json_response, validation_exception
from ..serialise import envelope, history_json
from ..state import HistoryRecord
from .common import body_json, elements, new_batch

#: Xero limits a note's Details to 2,500 characters.
MAX_DETAILS = 2500


def add_history(history: list[HistoryRecord]) -> Response:
    """PUT .../History: append notes (Changes "Note") from the app."""
    batch = new_batch()
    items = elements(body_json(), "HistoryRecords")
    for item in items:
        details = item.get("Details")
        if not details or len(str(details)) > MAX_DETAILS:
            bad = dict(item)
            bad["ValidationErrors"] = [
                {"Message": "The Details field is required and must be at most 2500 characters"}
            ]
            return validation_exception([bad])
    created = []
    for item in items:
        record = HistoryRecord("Note", str(item["Details"]), batch.user, batch.now)
        history.append(record)
        created.append(history_json(record))
    return json_response(envelope("HistoryRecords", created, batch.now))


def history_endpoint(history: list[HistoryRecord], now: float) -> Response:
    """GET lists an object's history; PUT adds notes to it."""
    if request.method == "PUT":
        return add_history(history)
    records = [history_json(r) for r in history]
    return json_response(envelope("HistoryRecords", records, now))
