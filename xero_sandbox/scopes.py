"""Which OAuth scopes each accounting endpoint needs, as Xero's OpenAPI description says.

Xero's description gives every operation its scopes: reads take the scope or its ``.read``
form, writes only the full scope. The rule follows the first path segment, so one table
covers every endpoint the sandbox serves (``test_sandbox_as_xero`` checks it against the
description). A token without them gets Xero's 401 ``AuthorizationUnsuccessful``, the
answer developers report for a call outside the granted scopes.
"""

from __future__ import annotations

#: The scope each resource (first path segment under /api.xro/2.0) belongs to.
_RESOURCE_SCOPES = {
    "organisation": "accounting.settings",
    "accounts": "accounting.settings",
    "taxrates": "accounting.settings",
    "brandingthemes": "accounting.settings",
    "contacts": "accounting.contacts",
    "invoices": "accounting.transactions",
    "payments": "accounting.transactions",
    "banktransactions": "accounting.transactions",
    "paymentservices": "paymentservices",
}
#: Scopes Xero offers no read-only form of.
_NO_READ_FORM = frozenset({"paymentservices"})


def required_scopes(method: str, path: str) -> frozenset[str] | None:
    """Any one of these scopes lets the call through; None for paths outside the table.

    ``path`` is relative to /api.xro/2.0, e.g. ``BrandingThemes/<id>/PaymentServices``:
    a theme's payment services are the paymentservices scope's, not the settings'.
    """
    segments = [s.lower() for s in path.strip("/").split("/") if s]
    if not segments:
        return None
    resource = "paymentservices" if "paymentservices" in segments else segments[0]
    scope = _RESOURCE_SCOPES.get(resource)
    if scope is None:
        return None
    if method.upper() in ("GET", "HEAD") and scope not in _NO_READ_FORM:
        return frozenset({scope, f"{scope}.read"})
    return frozenset({scope})
