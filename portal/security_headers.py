"""Security headers on every response (an ``after_request`` hook).

The Content-Security-Policy lets pages run only the portal's own scripts
(``portal/static/js``) and Stripe.js, from exactly the origin STRIPE_JS_URL names (Stripe's
js.stripe.com, or a stand-in such as localstripe); no inline script runs, so an injected
``<script>`` or ``onclick`` is refused by the browser. Stripe Elements draws the card field
in a frame from js.stripe.com (hooks.stripe.com for 3-D Secure) and calls api.stripe.com;
with a stand-in (STRIPE_API_BASE) those are its origins instead. Inline ``style``
attributes remain (style-src 'unsafe-inline'): they cannot run code.

Every answer but a static file is ``Cache-Control: no-store`` (member and admin pages show
money and personal data; the sign-in page carries a CSRF token); static files stay
cacheable.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, Response, request

#: Stripe's own origins (https://docs.stripe.com/security/guide#content-security-policy):
#: Stripe.js may load its parts from subdomains of js.stripe.com.
STRIPE_JS_ORIGINS = ("https://js.stripe.com", "https://*.js.stripe.com")
STRIPE_FRAME_ORIGINS = (
    "https://js.stripe.com",
    "https://*.js.stripe.com",
    "https://hooks.stripe.com",
)
STRIPE_API_ORIGIN = "https://api.stripe.com"
#: Where "Connect to Xero" sends the admin: Chromium and Safari check form-action against
#: the redirect that follows a form post, so Xero's sign-in page must be allowed there.
XERO_LOGIN_ORIGIN = "https://login.xero.com"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, or "" when it is not an absolute http(s) URL."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=8)
def content_security_policy(stripe_js_url: str, stripe_api_base: str, xero_base: str = "") -> str:
    js = origin(stripe_js_url)
    api = origin(stripe_api_base)
    script = ["'self'"] + ([js] if js else [])
    if js == STRIPE_JS_ORIGINS[0]:
        script.append(STRIPE_JS_ORIGINS[1])
    # Xero's sign-in, or the stand-in's (its authorize page is on XERO_BASE_URL).
    xero_login = origin(xero_base) or XERO_LOGIN_ORIGIN
    if api:  # a stand-in: its frames and API are where it serves them
        frames = [o for o in dict.fromkeys([js, api]) if o]
        connect = ["'self'", *dict.fromkeys(o for o in (api, js) if o)]
    else:
        frames = list(dict.fromkeys([*([js] if js else []), *STRIPE_FRAME_ORIGINS]))
        connect = ["'self'", STRIPE_API_ORIGIN]
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "frame-src": frames,
        "connect-src": connect,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", xero_login],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _cacheable(path: str, static_url_path: str) -> bool:
    """Only the static files. Every page is no-store: most show money or personal data
    (member and admin areas, receipts, invoices), and the rest (sign-in) carry a CSRF
    token; one rule cannot forget a new page."""
    return path.startswith(static_url_path.rstrip("/") + "/")


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        config = app.config
        headers = response.headers
        # Read per answer: the demo points STRIPE_* at its stand-in after start-up.
        headers.setdefault(
            "Content-Security-Policy",
            content_security_policy(
                config.get("STRIPE_JS_URL") or "",
                config.get("STRIPE_API_BASE") or "",
                config.get("XERO_BASE_URL") or "",
            ),
        )
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not _cacheable(request.path, app.static_url_path or "/static"):
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
        return response
