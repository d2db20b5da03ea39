"""Which outside links may become an href."""

from __future__ import annotations

import pytest

from billing.links import is_safe_outside_link

STAND_IN = "http://127.0.0.1:5001"

SAFE = [
    "https://in.xero.com/abc123XYZ",
    "https://in.xero.com/abc?x=1#frag",
    f"{STAND_IN}/_sandbox/invoices/1/online",
]

HOSTILE = [
    "",
    None,
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative/path",
    "http://in.xero.com/plain-http",
    "https://user:pass@in.xero.com/x",
    "https://in.xero.com@evil.example/x",
    "https:///no-host",
    "https:\\\\evil.example",
    "https://in.xero.com/a b",
    "https://in.xero.com/\x00",
    "https://in.xero.com:99999/bad-port",
    "http://127.0.0.1:5002/other-port",
    "http://127.0.0.1/no-port",
    "https://in.xero.com/" + "a" * 2000,
]


@pytest.mark.parametrize("url", SAFE)
def test_safe(url):
    assert is_safe_outside_link(url, [STAND_IN])


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile(url):
    assert not is_safe_outside_link(url, [STAND_IN])


def test_the_stand_in_origin_is_allowed_only_when_configured():
    assert not is_safe_outside_link(f"{STAND_IN}/_sandbox/invoices/1/online")


def test_an_upper_case_https_scheme_is_https():
    assert is_safe_outside_link("HTTPS://in.xero.com/")
