"""Where Xero lives. The same code talks to Xero or to the local sandbox; only these change."""

from __future__ import annotations

from dataclasses import dataclass

SCOPES = (
    "openid profile email offline_access "
    "accounting.transactions accounting.contacts accounting.settings paymentservices"
)
#: What the portal's work needs, and why; a connection whose granted scopes lack one of these
#: was made before the portal asked for it, and is shown as needing a reconnect for it.
NEEDED_SCOPES = {
    "offline_access": "syncing while nobody is signed in",
    "accounting.transactions": "invoices and payments",
    "accounting.contacts": "contacts",
    "accounting.settings": "accounts, tax rates and branding themes",
    "paymentservices": "checking that the branding theme has a payment service (Pay now)",
}


@dataclass(frozen=True)
class XeroEndpoints:
    authorize_url: str
    token_url: str
    revoke_url: str
    #: Where xero-python's IdentityApi finds /Connections.
    identity_url: str
    accounting_url: str

    @classmethod
    def xero(cls) -> XeroEndpoints:
        return cls(
            authorize_url="https://login.xero.com/identity/connect/authorize",
            token_url="https://identity.xero.com/connect/token",  # noqa: S106 - a URL
            revoke_url="https://identity.xero.com/connect/revocation",
            identity_url="https://api.xero.com",
            accounting_url="https://api.xero.com/api.xro/2.0",
        )

    @classmethod
    def sandbox(cls, base_url: str) -> XeroEndpoints:
        base = base_url.rstrip("/")
        return cls(
            authorize_url=f"{base}/identity/connect/authorize",
            token_url=f"{base}/connect/token",
            revoke_url=f"{base}/connect/revocation",
            identity_url=base,
            accounting_url=f"{base}/api.xro/2.0",
        )
