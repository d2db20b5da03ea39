"""A committed portal database wired to a sandbox served in-process, for benchmarks.

Adapted from the sync tests' environment, with what a measurement needs on top:

- one clock for both sides: the sandbox's ``Clock`` (real time plus an offset that only
  grows) is also the portal's clock (tokens, rate budget, job scheduling), so moving it
  forward moves Xero's rate-limit windows and the worker's backoff together;
- a tally of the requests the sandbox server received, taken at the WSGI layer under the
  sandbox's own gateway, to cross-check the portal's ``CallCounter``; it also keeps the
  lowest ``X-DayLimit-Remaining`` the sandbox answered, which is the sandbox's own count of
  the calls it accepted;
- the portal's own rate budget and the sandbox's limits switched on or off together.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet
from sqlalchemy.orm import sessionmaker

from billing.encryption import SecretBox
from billing.events import EventBus
from billing.inbox import Handlers
from billing.services import ServiceDetails, add_tax_rate, create_service
from portal import migrations
from portal.db import make_engine
from xero.api.connection import Tenant, connect
from xero.api.endpoints import XeroEndpoints
from xero.api.tokens import OAuthApp
from xero.integration import XeroIntegration
from xero.models import TaxRateMapping, XeroSettings
from xero.sync import outbox
from xero_sandbox import Clock, RateLimitSettings, Sandbox, create_sandbox_app, serve_in_thread

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REDIRECT_URI = "http://127.0.0.1/xero/callback"
ACCOUNTING_PREFIX = "/api.xro/2.0/"
#: Xero's limits per organisation; both the sandbox and the portal's budget use them.
PER_MINUTE = 60
PER_DAY = 5000
#: "Off" for the portal's budget: far more than any benchmark makes.
UNLIMITED = 10**9
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class RequestTally:
    """WSGI middleware around the sandbox app: counts accounting requests as received."""

    def __init__(self, app: WSGIApplication):
        self.app = app
        self._lock = threading.Lock()
        #: "GET Contacts", "PUT Contacts/{id}/History", ... -> requests.
        self.by_route: Counter[str] = Counter()
        #: "GET Contacts 200", "POST Invoices 429", ...
        self.by_status: Counter[str] = Counter()
        self.day_remaining: int | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(ACCOUNTING_PREFIX):
            return self.app(environ, start_response)
        route = f"{environ['REQUEST_METHOD']} {_GUID.sub('{id}', path[len(ACCOUNTING_PREFIX) :])}"

        def recording_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            with self._lock:
                self.by_route[route] += 1
                self.by_status[f"{route} {status.split()[0]}"] += 1
                for name, value in headers:
                    if name.lower() == "x-daylimit-remaining":
                        remaining = int(value)
                        if self.day_remaining is None or remaining < self.day_remaining:
                            self.day_remaining = remaining
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)

    @property
    def requests(self) -> int:
        return sum(self.by_route.values())

    def refused(self) -> int:
        """Requests the sandbox answered 429 (over a rate limit)."""
        return sum(n for key, n in self.by_status.items() if key.endswith(" 429"))

    def accepted_by_sandbox(self, per_day: int) -> int:
        """The sandbox's own count of calls it let through (from its day-limit header)."""
        return 0 if self.day_remaining is None else per_day - self.day_remaining


@dataclass
class TaxSetup:
    standard_id: int
    desk_id: int
    room_id: int


class PortalOnSandbox:
    """A fresh sandbox organisation and a fresh portal database connected to it."""

    def __init__(self, workdir: Path, *, rate_limited: bool):
        self.rate_limited = rate_limited
        self.clock = Clock()
        self.sandbox = Sandbox(
            clock=self.clock,
            rate_limits=RateLimitSettings(
                enabled=rate_limited, per_minute=PER_MINUTE, per_day=PER_DAY
            ),
            # Contract checking is for the tests; here it would measure the checker.
            validate_contract=False,
        )
        self.org = self.sandbox.add_organisation("Coworking Ltd", country="GB")
        app = create_sandbox_app(self.sandbox)
        self.tally = RequestTally(app.wsgi_app)
        app.wsgi_app = self.tally  # type: ignore[method-assign]
        self.url, self._stop = serve_in_thread(app)

        workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = f"sqlite:///{workdir / 'portal.db'}"
        migrations.upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        # This composition's registries: issuing an invoice writes its sync job only with
        # the outbox subscribed to the bus its sessions publish to.
        self.bus = EventBus()
        outbox.register(self.bus)
        #: Who handles stored webhook events, for a job runner over this portal.
        self.handlers = Handlers()
        self.Session = sessionmaker(
            self.engine, expire_on_commit=False, info=self.bus.session_info()
        )

        self.client = self.sandbox.register_client(redirect_uris=[REDIRECT_URI])
        self.box = SecretBox(Fernet.generate_key())
        # Registered without a secret of its own: the sandbox made one up (a confidential app).
        assert self.client.client_secret is not None
        self.oauth = OAuthApp(
            self.client.client_id,
            self.client.client_secret,
            REDIRECT_URI,
            XeroEndpoints.sandbox(self.url),
        )
        budget = PER_MINUTE if rate_limited else UNLIMITED
        self.service = XeroIntegration(
            self.oauth,
            self.box,
            self.Session,
            clock=self.clock.utcnow,
            timeout=(5, 30),
            per_minute=budget,
            per_day=PER_DAY if rate_limited else UNLIMITED,
        )
        self.tax = self._connect()

    def _connect(self) -> TaxSetup:
        token = self.sandbox.connect([self.org.tenant_id], client=self.client).token
        with self.Session() as db, db.begin():
            tenant = Tenant(self.org.tenant_id, self.org.name, "")
            connect(db, self.box, token, tenant, None, self.clock.utcnow())
            db.add(XeroSettings(tenant_id=self.org.tenant_id, country="GB", base_currency="GBP"))
            standard = add_tax_rate(db, "Standard", Decimal("20"))
            db.add(TaxRateMapping(tax_rate_id=standard.id, tax_type="OUTPUT2"))
            desk = create_service(
                db,
                ServiceDetails(
                    code="DESK",
                    name="Hot desk (day)",
                    unit_price=Decimal("24.95"),
                    currency="GBP",
                    sales_account_code="200",
                    tax_rate_id=standard.id,
                ),
            )
            room = create_service(
                db,
                ServiceDetails(
                    code="ROOM",
                    name="Meeting room (hour)",
                    unit_price=Decimal("12.3750"),
                    currency="GBP",
                    sales_account_code="200",
                    tax_rate_id=standard.id,
                ),
            )
            return TaxSetup(standard.id, desk.id, room.id)

    def close(self) -> None:
        self._stop()
        self.engine.dispose()
