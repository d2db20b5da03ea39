"""Realistic starting data for a new organisation, per country.

Modelled on Xero's demo companies: the default chart of accounts (090 bank, 200 Sales,
260 Other Revenue...), each country's sales tax rates, and two branding themes, one with a
card payment service attached (as when an organisation has connected Stripe) and one without.
"""

from __future__ import annotations

from decimal import Decimal

from .state import Account, BrandingTheme, Organisation, PaymentService, TaxRate, new_id

REVENUE = frozenset({"REVENUE"})
EXPENSE = frozenset({"EXPENSE", "ASSET", "LIABILITY", "EQUITY"})
ANY = frozenset({"REVENUE", "EXPENSE", "ASSET", "LIABILITY", "EQUITY"})

# (tax type, name, rate, applies to, report tax type)
_TAX_RATES: dict[str, list[tuple[str, str, str, frozenset[str], str]]] = {
    "GB": [
        ("OUTPUT2", "20% (VAT on Income)", "20", REVENUE, "OUTPUT"),
        ("RROUTPUT", "5% (VAT on Income)", "5", REVENUE, "OUTPUT"),
        ("ZERORATEDOUTPUT", "Zero Rated Income", "0", REVENUE, "OUTPUT"),
        ("EXEMPTOUTPUT", "Exempt Income", "0", REVENUE, "EXEMPTOUTPUT"),
        ("INPUT2", "20% (VAT on Expenses)", "20", EXPENSE, "INPUT"),
        ("NONE", "No VAT", "0", ANY, "NONE"),
    ],
    "AU": [
        ("OUTPUT", "GST on Income", "10", REVENUE, "OUTPUT"),
        ("EXEMPTOUTPUT", "GST Free Income", "0", REVENUE, "EXEMPTOUTPUT"),
        ("INPUT", "GST on Expenses", "10", EXPENSE, "INPUT"),
        ("BASEXCLUDED", "BAS Excluded", "0", ANY, "BASEXCLUDED"),
    ],
    "NZ": [
        ("OUTPUT2", "15% GST on Income", "15", REVENUE, "OUTPUT"),
        ("ZERORATED", "Zero Rated", "0", REVENUE, "OUTPUT"),
        ("INPUT2", "15% GST on Expenses", "15", EXPENSE, "INPUT"),
        ("NONE", "No GST", "0", ANY, "NONE"),
    ],
    "ZA": [
        ("OUTPUT", "Standard Rate Sales", "15", REVENUE, "OUTPUT"),
        ("ZERORATEDOUTPUT", "Zero Rated", "0", REVENUE, "OUTPUT"),
        ("EXEMPTOUTPUT", "Exempt and Non-Supplies", "0", REVENUE, "EXEMPTOUTPUT"),
        ("INPUT", "Standard Rate Purchases", "15", EXPENSE, "INPUT"),
        ("NONE", "No VAT", "0", ANY, "NONE"),
    ],
}

# country -> (currency, Xero Version, standard sales tax, no-tax type, tax account name)
_COUNTRIES = {
    "GB": ("GBP", "UK", "OUTPUT2", "NONE", "VAT"),
    "AU": ("AUD", "AU", "OUTPUT", "BASEXCLUDED", "GST"),
    "NZ": ("NZD", "NZ", "OUTPUT2", "NONE", "GST"),
    "ZA": ("ZAR", "GLOBAL", "OUTPUT", "NONE", "VAT"),
}

SUPPORTED_COUNTRIES = tuple(_COUNTRIES)


def _chart(sales_tax: str, no_tax: str, purchase_tax: str, tax_name: str) -> list[Account]:
    rows = [
        # code, name, type, class, tax type, payments enabled, system account
        ("090", "Business Bank Account", "BANK", "ASSET", no_tax, False, None),
        ("091", "Business Savings Account", "BANK", "ASSET", no_tax, False, None),
        ("200", "Sales", "REVENUE", "REVENUE", sales_tax, False, None),
        ("260", "Other Revenue", "REVENUE", "REVENUE", sales_tax, False, None),
        ("270", "Interest Income", "REVENUE", "REVENUE", no_tax, False, None),
        ("400", "Advertising", "EXPENSE", "EXPENSE", purchase_tax, False, None),
        ("404", "Bank Fees", "EXPENSE", "EXPENSE", no_tax, False, None),
        ("429", "General Expenses", "EXPENSE", "EXPENSE", purchase_tax, False, None),
        ("610", "Accounts Receivable", "CURRENT", "ASSET", no_tax, False, "DEBTORS"),
        # A clearing account that takes payments: how card processors are often set up.
        ("615", "Card Payments Clearing", "CURRENT", "ASSET", no_tax, True, None),
        ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", no_tax, False, "CREDITORS"),
        ("820", tax_name, "CURRLIAB", "LIABILITY", no_tax, False, "GST"),
        ("960", "Retained Earnings", "EQUITY", "EQUITY", no_tax, False, "RETAINEDEARNINGS"),
    ]
    accounts = []
    for code, name, type_, class_, tax, payments, system in rows:
        accounts.append(
            Account(
                account_id=new_id(),
                code=code,
                name=name,
                type=type_,
                account_class=class_,
                tax_type=tax,
                enable_payments_to_account=payments,
                bank_account_number="12-3456-7890123-00" if type_ == "BANK" else None,
                system_account=system,
            )
        )
    return accounts


def seed_organisation(org: Organisation, now: float) -> None:
    currency, version, sales_tax, no_tax, tax_name = _COUNTRIES[org.country_code]
    del currency, version
    rates = _TAX_RATES[org.country_code]
    for tax_type, name, rate, applies_to, report in rates:
        org.tax_rates[tax_type] = TaxRate(tax_type, name, Decimal(rate), applies_to, report)
    purchase_tax = next(t for t, *_rest in rates if t.startswith("INPUT"))
    for account in _chart(sales_tax, no_tax, purchase_tax, tax_name):
        account.updated = now
        org.accounts[account.account_id] = account
    org.default_sales_tax = sales_tax
    with_card = BrandingTheme(new_id(), "Standard", 0, now)
    with_card.payment_services.append(
        PaymentService(
            new_id(), "Stripe", "https://checkout.stripe.com/pay", "Pay now with card", "Stripe"
        )
    )
    plain = BrandingTheme(new_id(), "Special Projects", 1, now)
    for theme in (with_card, plain):
        org.branding_themes[theme.branding_theme_id] = theme


def country_defaults(country_code: str) -> tuple[str, str]:
    """(base currency, Xero Version) for a supported country."""
    try:
        currency, version, *_rest = _COUNTRIES[country_code]
    except KeyError:
        raise ValueError(
            f"unsupported country {country_code!r}; choose one of {SUPPORTED_COUNTRIES}"
        ) from None
    return currency, version
