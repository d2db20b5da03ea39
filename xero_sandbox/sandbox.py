"""The sandbox: organisations, identity and the behaviours around them, in one object.

Tests, the benchmark and the demo drive it directly from Python (seed organisations, connect
an app, inject faults, move the clock, read contract violations) and serve it over HTTP with
``create_sandbox_app``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .contract import ContractChecker, ContractViolation
from .faults import FaultInjector
from .idempotency import IdempotencyCache
from .oauth import DEFAULT_USER, IdentityProvider, OAuthClient
from .ratelimit import RateLimiter, RateLimitSettings
from .seed import country_defaults, seed_organisation
from .state import Invoice, Organisation, PaymentService, new_id
from .webhooks import WebhookSender


@dataclass
class ConnectedApp:
    """What an app holds after consent: its token response and the organisations granted."""

    client_id: str
    client_secret: str | None
    token: dict[str, Any]
    tenant_ids: list[str]


class Sandbox:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limits: RateLimitSettings | bool = True,
        validate_contract: bool = False,
        contract_spec_dir: str | None = None,
        webhook_url: str | None = None,
        webhook_key: str | None = None,
    ) -> None:
        #: Guards every organisation's books; held for the whole of each API write.
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.organisations: dict[str, Organisation] = {}
        self.identity = IdentityProvider(self.clock)
        if isinstance(rate_limits, bool):
            rate_limits = RateLimitSettings(enabled=rate_limits)
        self.rate_limiter = RateLimiter(self.clock, rate_limits)
        self.faults = FaultInjector()
        #: Where OnlineInvoiceUrl points, as a format string with ``{invoice_id}``; None
        #: means the sandbox's own online invoice page. Real Xero answers in.xero.com links;
        #: tests set this to see what the portal does with a link it must not trust.
        self.online_invoice_url: str | None = None
        self.idempotency = IdempotencyCache(self.clock)
        self.contract: ContractChecker | None = (
            ContractChecker.load(contract_spec_dir) if validate_contract else None
        )
        self.contract_violations: list[ContractViolation] = []
        #: Xero's webhooks to one subscribed app (``webhook_url``, signed with ``webhook_key``).
        self.webhooks = WebhookSender(self.clock, webhook_url, webhook_key)

    @property
    def webhook_url(self) -> str | None:
        return self.webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.webhooks.url = url

    @property
    def webhook_key(self) -> str | None:
        return self.webhooks.key

    @webhook_key.setter
    def webhook_key(self, key: str | None) -> None:
        self.webhooks.key = key

    # -- organisations --------------------------------------------------------------------

    def add_organisation(self, name: str, country: str = "GB") -> Organisation:
        """A new organisation with the country's chart of accounts, tax rates and themes."""
        currency, version = country_defaults(country)
        now = self.clock.now()
        org = Organisation(
            organisation_id=new_id(),
            name=name,
            country_code=country,
            base_currency=currency,
            short_code="!" + secrets.token_hex(3),
            version=version,
            created=now,
        )
        seed_organisation(org, now)
        with self.lock:
            self.organisations[org.organisation_id] = org
        return org

    def organisation(self, tenant_id: str) -> Organisation:
        return self.organisations[tenant_id.lower()]

    def attach_payment_service(
        self,
        tenant_id: str,
        branding_theme_id: str,
        name: str = "Stripe",
        url: str = "https://checkout.stripe.com/pay",
        pay_now_text: str = "Pay now",
    ) -> PaymentService:
        """Link a payment service to a theme, as an organisation does in Xero's settings."""
        with self.lock:
            theme = self.organisation(tenant_id).branding_themes[branding_theme_id.lower()]
            service = PaymentService(new_id(), name, url, pay_now_text, name)
            theme.payment_services.append(service)
            return service

    def find_invoice(self, invoice_id: str) -> tuple[Organisation, Invoice] | None:
        """The invoice with this id in any organisation (for the online invoice page)."""
        with self.lock:
            for org in self.organisations.values():
                invoice = org.invoices.get(invoice_id.lower())
                if invoice:
                    return org, invoice
        return None

    # -- apps and tokens ------------------------------------------------------------------

    def register_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = "",
        redirect_uris: list[str] | None = None,
        name: str = "Sandbox app",
    ) -> OAuthClient:
        """Register an app. ``client_secret=""`` makes one up; ``None`` is a PKCE public app."""
        if client_secret == "":
            client_secret = secrets.token_urlsafe(24)
        return self.identity.register_client(
            client_id or secrets.token_hex(16).upper(), client_secret, redirect_uris, name
        )

    def connect(
        self,
        tenant_ids: list[str] | None = None,
        client: OAuthClient | None = None,
        scope: str | None = None,
    ) -> ConnectedApp:
        """Consent without a browser: a token for the given (default: all) organisations,
        granting ``scope`` (default: everything the portal asks for)."""
        client = client or self.register_client()
        tenants = tenant_ids if tenant_ids is not None else list(self.organisations)
        options = {"scope": scope} if scope is not None else {}
        token = self.identity.connect(client.client_id, tenants, DEFAULT_USER, **options)
        return ConnectedApp(client.client_id, client.client_secret, token, tenants)

    # -- knobs ----------------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def record_violation(self, violation: ContractViolation) -> None:
        with self.lock:
            self.contract_violations.append(violation)
