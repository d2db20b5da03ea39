"""Request bodies, limited on the bytes actually read, chunked or not.

Werkzeug refuses a declared Content-Length over ``max_content_length`` up front, but a
chunked body (no Content-Length; gunicorn and Werkzeug's server terminate the stream and
say so with ``wsgi.input_terminated``) is only cut off at the limit: the read ends there
quietly and the app sees a truncated body. ``PortalRequest`` reads at most one byte past
the limit and answers 413 when there is one, so neither kind is read past its limit nor
taken for a whole one.

The app-wide limit is MAX_CONTENT_LENGTH (1 MiB by default); a route that expects less
(the webhooks) lowers it for its own request with ``read_body`` before reading anything.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Request, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream


class _Capped(io.RawIOBase):
    """Raises 413 as soon as more than ``cap`` bytes have been read."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self._stream.read(len(buffer))
        self._read += len(data)
        if self._read > self._cap:
            raise RequestEntityTooLarge()
        buffer[: len(data)] = data
        return len(data)


class PortalRequest(Request):
    @cached_property
    def stream(self) -> IO[bytes]:  # type: ignore[override]
        cap = self.max_content_length
        if cap is None:
            return super().stream
        # One byte more than allowed tells "exactly at the limit" from "over it".
        inner = get_input_stream(self.environ, max_content_length=cap + 1)
        return io.BufferedReader(_Capped(inner, cap))


class BodyTooLarge(Exception):
    pass


def read_body(limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes; BodyTooLarge (nothing more read) past it."""
    request.max_content_length = min(limit, request.max_content_length or limit)
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise BodyTooLarge from None
