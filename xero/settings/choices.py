"""The Xero settings an admin chooses from lists read live from the organisation, and the
checks that keep a bad choice from ever reaching an invoice.

Xero refuses an invoice line whose TaxType does not exist, is not a sales rate, or cannot be
used with the line's account ("The TaxType code 'X' cannot be used with account code 'Y'"),
and it computes tax at its own rate, not ours. All of that is checked here, when the admin
saves, against what Xero answers now; nothing is saved unless everything holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.services import Service, TaxRate
from xero.api.errors import AuthLost, NotFound
from xero.api.port import XeroPort
from xero.models import TaxRateMapping, XeroSettings
from xero.settings import tax_defaults

REVENUE_TYPES = frozenset({"REVENUE", "SALES"})
NO_PAYMENT_SERVICE = (
    "The branding theme {name} has no payment service, so its online invoices have no "
    "Pay now button: set up a payment service in Xero first (Settings > Invoice settings > "
    "Payment services), then link it to this theme."
)


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value)).normalize() if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: str
    account_class: str
    status: str = "ACTIVE"
    enable_payments: bool = False
    system_account: str = ""

    @property
    def label(self) -> str:
        return f"{self.code} – {self.name}"

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def is_revenue(self) -> bool:
        return self.active and self.type in REVENUE_TYPES

    @property
    def takes_payments(self) -> bool:
        return self.active and (self.type == "BANK" or self.enable_payments)

    @property
    def usable_on_invoice_lines(self) -> bool:
        # Xero keeps bank accounts and its own system accounts off invoice lines.
        return self.active and self.type != "BANK" and not self.system_account


@dataclass(frozen=True)
class XeroTaxRate:
    tax_type: str
    name: str
    rate: Decimal
    status: str
    applies_to: frozenset[str]

    @property
    def label(self) -> str:
        # UK names already carry the rate: "20% (VAT on Income)".
        shown = f"{self.rate:f}%"
        return self.name if self.name.startswith(shown) else f"{self.name} ({shown})"

    @property
    def for_sales(self) -> bool:
        return self.status == "ACTIVE" and "REVENUE" in self.applies_to


@dataclass(frozen=True)
class Theme:
    theme_id: str
    name: str


@dataclass
class Ledger:
    """What the settings page offers, as Xero answered a moment ago."""

    organisation_name: str
    country: str
    base_currency: str
    accounts: list[Account]
    tax_rates: list[XeroTaxRate]
    themes: list[Theme]

    def account(self, code: str) -> Account | None:
        return next((a for a in self.accounts if a.code == code), None)

    def tax_rate(self, tax_type: str) -> XeroTaxRate | None:
        return next((r for r in self.tax_rates if r.tax_type == tax_type), None)

    def theme(self, theme_id: str) -> Theme | None:
        return next((t for t in self.themes if t.theme_id.lower() == theme_id.lower()), None)

    @property
    def revenue_accounts(self) -> list[Account]:
        return [a for a in self.accounts if a.is_revenue]

    @property
    def payment_accounts(self) -> list[Account]:
        return [a for a in self.accounts if a.takes_payments]

    @property
    def sales_tax_rates(self) -> list[XeroTaxRate]:
        return [r for r in self.tax_rates if r.for_sales]


def read_ledger(api: XeroPort) -> Ledger:
    """Organisation, accounts, tax rates and branding themes: four calls to Xero."""
    org = api.organisation()
    accounts = [
        Account(
            code=a.code,
            name=a.name,
            type=a.type,
            account_class=a.account_class,
            status=a.status or "ACTIVE",
            enable_payments=a.enable_payments,
            system_account=a.system_account,
        )
        for a in api.accounts()
        if a.code  # accounts without a code cannot be named on an invoice line
    ]
    tax_rates = [
        XeroTaxRate(
            tax_type=r.tax_type,
            name=r.name,
            rate=_decimal(r.rate),
            status=r.status or "ACTIVE",
            applies_to=r.applies_to,
        )
        for r in api.tax_rates()
    ]
    themes = [Theme(t.theme_id, t.name) for t in api.branding_themes()]
    return Ledger(
        organisation_name=org.name if org else "",
        country=org.country_code if org else "",
        base_currency=org.base_currency if org else "",
        accounts=sorted(accounts, key=lambda a: a.code),
        tax_rates=sorted(tax_rates, key=lambda r: r.name),
        themes=themes,
    )


@dataclass(frozen=True)
class PaymentServiceCheck:
    """Whether a theme has a payment service; ``known`` is False when Xero would not say."""

    has_service: bool
    known: bool = True
    names: tuple[str, ...] = ()
    problem: str = ""


def payment_services(api: XeroPort, theme: Theme) -> PaymentServiceCheck:
    """GET /BrandingThemes/{id}/PaymentServices.

    Real Xero answers it only to apps granted the ``paymentservices`` scope; a refusal
    means "cannot tell", never "the connection is lost".
    """
    try:
        names = api.payment_services(theme.theme_id)
    except (AuthLost, NotFound) as error:
        return PaymentServiceCheck(False, known=False, problem=str(error))
    return PaymentServiceCheck(bool(names), names=names)


# -- the local side --------------------------------------------------------------------------


@dataclass
class RateInUse:
    """A local tax rate that active services use, with the sales accounts they post to."""

    rate: TaxRate
    account_codes: set[str] = field(default_factory=set)
    services: list[str] = field(default_factory=list)


def rates_in_use(db: Session) -> list[RateInUse]:
    uses: dict[int, RateInUse] = {}
    services = db.scalars(
        select(Service).where(Service.active.is_(True)).order_by(Service.code)
    ).unique()
    for service in services:
        use = uses.setdefault(service.tax_rate_id, RateInUse(service.tax_rate))
        use.account_codes.add(service.sales_account_code)
        use.services.append(service.code)
    return sorted(uses.values(), key=lambda u: (u.rate.rate_percent, u.rate.name))


def saved_settings(db: Session, tenant_id: str) -> XeroSettings | None:
    return db.scalar(select(XeroSettings).where(XeroSettings.tenant_id == tenant_id))


def saved_mappings(db: Session) -> dict[int, str]:
    return {m.tax_rate_id: m.tax_type for m in db.scalars(select(TaxRateMapping))}


def suggest_tax_type(ledger: Ledger, rate: TaxRate) -> str:
    """The Xero sales rate a local rate most likely is: the country default if the
    organisation has it at the same rate, else the only sales rate at that rate."""
    local = _decimal(rate.rate_percent)
    fitting = {r.tax_type: r for r in ledger.sales_tax_rates if r.rate == local}
    for code in tax_defaults.candidates(ledger.country, rate.name, local):
        if code in fitting:
            return code
    return next(iter(fitting)) if len(fitting) == 1 else ""


def prefill(ledger: Ledger, uses: Iterable[RateInUse], saved: dict[int, str]) -> dict[int, str]:
    return {u.rate.id: saved.get(u.rate.id) or suggest_tax_type(ledger, u.rate) for u in uses}


# -- checking and saving ----------------------------------------------------------------------


@dataclass
class Choice:
    default_sales_account: str
    payments_account: str
    branding_theme_id: str
    sync_client_names: bool
    #: local tax rate id -> Xero TaxType
    tax_types: dict[int, str]
    sync_payments_out: bool = True
    sync_payments_in: bool = True


Problems = dict[str, list[str]]


def check(ledger: Ledger, choice: Choice, uses: Iterable[RateInUse]) -> Problems:
    """Every reason Xero would refuse an invoice made with these settings, by field name
    (``tax_type_<rate id>`` for the mapping table). Empty when all is well."""
    problems: Problems = {}

    def refuse(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    sales = ledger.account(choice.default_sales_account)
    if sales is None:
        refuse(
            "default_sales_account",
            f"Xero has no account with code {choice.default_sales_account!r}.",
        )
    elif not sales.is_revenue:
        refuse("default_sales_account", f"{sales.label} is not an active revenue account.")
    payments = ledger.account(choice.payments_account)
    if payments is None and not choice.payments_account and not choice.sync_payments_out:
        pass  # no portal payment is recorded in Xero, so none needs an account
    elif payments is None:
        refuse("payments_account", f"Xero has no account with code {choice.payments_account!r}.")
    elif not payments.takes_payments:
        refuse(
            "payments_account",
            f"{payments.label} cannot take payments: choose a bank account or an account "
            "with payments enabled.",
        )
    if choice.branding_theme_id and ledger.theme(choice.branding_theme_id) is None:
        refuse("branding_theme_id", "Xero has no such branding theme.")

    for use in uses:
        name = f"tax_type_{use.rate.id}"
        tax_type = choice.tax_types.get(use.rate.id, "")
        local = _decimal(use.rate.rate_percent)
        if not tax_type:
            refuse(name, f"Choose the Xero tax rate for {use.rate.label}.")
            continue
        xero_rate = ledger.tax_rate(tax_type)
        if xero_rate is None or not xero_rate.for_sales:
            refuse(
                name,
                f"Xero has no active sales tax rate {tax_type!r}: it cannot be used on invoices.",
            )
            continue
        if xero_rate.rate != local:
            refuse(
                name,
                f"{xero_rate.label} in Xero is {xero_rate.rate:f}%, but {use.rate.name} is "
                f"{local:f}%: Xero would charge a different tax. Choose a Xero rate of "
                f"{local:f}%.",
            )
        codes = set(use.account_codes)
        if sales is not None:
            codes.add(sales.code)
        for code in sorted(codes):
            account = ledger.account(code)
            if account is None or not account.usable_on_invoice_lines:
                if code != choice.default_sales_account:
                    refuse(
                        name,
                        f"Services with {use.rate.name} post to account {code}, which Xero "
                        "does not accept on invoice lines.",
                    )
                continue
            if account.account_class not in xero_rate.applies_to:
                refuse(
                    name,
                    f"Xero does not allow {xero_rate.name} ({tax_type}) on account "
                    f"{account.label}: choose another tax rate or change the account.",
                )
    return problems


def save(
    db: Session,
    tenant_id: str,
    ledger: Ledger,
    choice: Choice,
    has_payment_service: bool,
) -> XeroSettings:
    """Store checked settings and mappings (flush only; the request commits)."""
    settings = saved_settings(db, tenant_id) or XeroSettings(tenant_id=tenant_id)
    settings.country = ledger.country[:2]
    settings.base_currency = ledger.base_currency[:3]
    settings.default_sales_account = choice.default_sales_account
    settings.payments_account = choice.payments_account
    settings.branding_theme_id = choice.branding_theme_id
    settings.branding_theme_has_payment_service = has_payment_service
    settings.sync_client_names = choice.sync_client_names
    settings.sync_payments_out = choice.sync_payments_out
    settings.sync_payments_in = choice.sync_payments_in
    db.add(settings)
    existing = {m.tax_rate_id: m for m in db.scalars(select(TaxRateMapping))}
    for rate_id, tax_type in choice.tax_types.items():
        mapping = existing.get(rate_id) or TaxRateMapping(tax_rate_id=rate_id)
        mapping.tax_type = tax_type
        db.add(mapping)
    db.flush()
    return settings
