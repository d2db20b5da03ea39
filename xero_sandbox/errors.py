"""Xero's error bodies, so clients see exactly what production sends them."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response

from .xerojson import dumps

JSON = "application/json; charset=utf-8"


class ValidationFailure(Exception):
    """Messages for one element that Xero would refuse (ValidationErrors)."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class NotFound(Exception):
    """The resource named in the URL does not exist in this organisation."""


def json_response(
    payload: Any, status: int = 200, headers: dict[str, Any] | None = None
) -> Response:
    return Response(dumps(payload), status=status, headers=headers, content_type=JSON)


def validation_exception(elements: list[dict[str, Any]]) -> Response:
    """Xero's 400 for a request whose elements failed validation (summarizeErrors=true)."""
    return json_response(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
        status=400,
    )


def bad_request(message: str) -> Response:
    """A malformed request (unparseable body, missing collection)."""
    return json_response(
        {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}, status=400
    )


def problem(status: int, title: str, detail: str) -> Response:
    """The RFC 7807-style body Xero's gateway sends for 401, 403 and 404."""
    return json_response(
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        },
        status=status,
    )


def unauthorized(detail: str) -> Response:
    response = problem(401, "Unauthorized", detail)
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def forbidden() -> Response:
    return problem(403, "Forbidden", "AuthenticationUnsuccessful")


def not_found() -> Response:
    return problem(404, "NotFound", "The resource you're looking for cannot be found")
