"""Putting the Xero pieces together for one portal: its OAuth app, secret box, database
and clock. The portal builds one at start-up; tests and the benchmark build their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import utcnow
from billing.encryption import SecretBox
from xero.api import ratelimit, tokens
from xero.api.errors import RateLimited
from xero.api.port import DEFAULT_TIMEOUT
from xero.api.tokens import OAuthApp
from xero.models import TaxRateMapping, XeroSettings
from xero.sync.invoices import TenantSettings
from xero.sync.worker import Connected, SyncWorker, WorkerConfig

if TYPE_CHECKING:
    from xero.api.client import XeroApi


@dataclass
class CallCounter:
    """Counts the calls that reached Xero (the benchmark reports it)."""

    calls: int = 0
    by_method: dict[str, int] = field(default_factory=dict)

    def __call__(self, method: str) -> None:
        self.calls += 1
        self.by_method[method] = self.by_method.get(method, 0) + 1


@dataclass
class XeroIntegration:
    oauth: OAuthApp
    box: SecretBox
    session_factory: Callable[[], Session]
    clock: Callable[[], datetime] = utcnow
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    per_minute: int = ratelimit.PER_MINUTE
    per_day: int = ratelimit.PER_DAY
    counter: CallCounter = field(default_factory=CallCounter)

    def api(self, db: Session, refused: str | None = None) -> XeroApi:
        """An API for the connected organisation (refreshing the token if it must), for
        background work: it leaves the members' reserve of the minute alone."""
        tenant_id, access_token = tokens.access_token(
            db, self.oauth, self.box, self.clock(), refused=refused
        )
        return self._api_for(tenant_id, access_token, ratelimit.background_budget(self.per_minute))

    def member_api(self, db: Session) -> XeroApi:
        """An API for a call a member is waiting on (``xero.sync.online_links``): it may use
        the whole minute, the members' reserve included."""
        tenant_id, access_token = tokens.access_token(db, self.oauth, self.box, self.clock())
        return self._api_for(tenant_id, access_token, self.per_minute)

    def ledger_check_api(self, db: Session) -> XeroApi:
        """An API held to the ledger check's share of the minute's budget."""
        api = self.api(db)
        budget = ratelimit.ledger_check_budget(self.per_minute)
        return self._api_for(api.tenant_id, api.access_token, budget)

    def _api_for(self, tenant_id: str, access_token: str, per_minute: int) -> XeroApi:
        # Here, not at import: xero-python's accounting module takes a quarter of a second
        # to import, and most requests (every member page) never call Xero.
        from xero.api.client import XeroApi

        return XeroApi(
            self.oauth.endpoints.accounting_url,
            access_token,
            tenant_id,
            timeout=self.timeout,
            on_call=lambda method: self._before_call(tenant_id, method, per_minute),
        )

    def _before_call(self, tenant_id: str, method: str, per_minute: int) -> None:
        # Its own short transaction, so every worker sees the count at once.
        with self.session_factory() as db, db.begin():
            wait = ratelimit.take_call(db, tenant_id, self.clock(), per_minute, self.per_day)
        if wait > 0:
            if per_minute < ratelimit.background_budget(self.per_minute):
                raise RateLimited(wait, "follow-up share of the minute", whole_organisation=False)
            if per_minute < self.per_minute:
                # Only background work stops here: members still have their reserve.
                raise RateLimited(
                    wait, "minute, less the members' reserve", whole_organisation=False
                )
            raise RateLimited(wait, "minute")
        self.counter(method)

    def connected(self, db: Session) -> Connected:
        api = self.api(db)
        settings = db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == api.tenant_id))
        mappings = db.scalars(select(TaxRateMapping))
        follow_up_budget = ratelimit.follow_up_budget(self.per_minute)
        return Connected(
            api=api,
            follow_up_api=self._api_for(api.tenant_id, api.access_token, follow_up_budget),
            access_refused=lambda session: self.api(session, refused=api.access_token),
            settings=TenantSettings(
                tax_types={m.tax_rate_id: m.tax_type for m in mappings},
                branding_theme_id=settings.branding_theme_id if settings else None,
                sync_client_names=bool(settings and settings.sync_client_names),
                email_invoices=bool(settings and settings.after_push == "email"),
            ),
        )

    def worker(self, config: WorkerConfig | None = None, **kwargs: Any) -> SyncWorker:
        return SyncWorker(
            self.session_factory, self.connected, clock=self.clock, config=config, **kwargs
        )
