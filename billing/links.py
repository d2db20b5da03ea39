"""Links that come from outside (Xero's online invoice, any URL an API returns) are put in
pages as hrefs, so they are checked first: a ``javascript:`` or ``data:`` URL there would
run in the member's session.

Allowed: an ``https:`` URL with a host and no credentials, or a URL on exactly one of the
given origins (the Xero stand-in the tests and the demo run on plain http).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

MAX_LENGTH = 2000


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def is_safe_outside_link(url: str | None, allowed_origins: Iterable[str] = ()) -> bool:
    if not url or len(url) > MAX_LENGTH:
        return False
    # Browsers drop tabs and newlines inside a scheme ("java\tscript:") and trim spaces:
    # refuse any whitespace or control character rather than guess how they read it.
    if any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError:
        return False
    del port
    if not parts.hostname or "@" in parts.netloc or "\\" in url:
        return False
    if parts.scheme == "https":
        return True
    return origin_of(url) in {origin.lower().rstrip("/") for origin in allowed_origins if origin}
