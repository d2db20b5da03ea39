"""Ready defaults for mapping local sales-tax rates to Xero TaxTypes, per country.

Codes are Xero's (developer.xero.com "Types and Codes", TaxTypes) and match the sandbox's
seed. Each default lists the codes to try in order, because organisations differ: a South
African organisation created after the 2018 rise to 15% may have "Standard Rate Sales" as
OUTPUT3 while older ones (and the sandbox) keep OUTPUT. New Zealand has no EXEMPTOUTPUT
TaxType at all; exempt supplies there are entered as "No GST" (NONE).

A default is only a suggestion: the settings page offers it when the organisation really
has that code, active, for sales, at the local rate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class Kind(enum.StrEnum):
    STANDARD = "standard"
    REDUCED = "reduced"
    ZERO = "zero"
    EXEMPT = "exempt"
    #: Outside the tax altogether (AU "BAS Excluded").
    EXCLUDED = "excluded"


@dataclass(frozen=True)
class DefaultTaxType:
    kind: Kind
    rate: Decimal
    #: Xero TaxType codes to try, first match wins.
    tax_types: tuple[str, ...]
    label: str


DEFAULTS: dict[str, tuple[DefaultTaxType, ...]] = {
    "AU": (
        DefaultTaxType(Kind.STANDARD, Decimal(10), ("OUTPUT",), "GST on Income"),
        DefaultTaxType(Kind.EXEMPT, Decimal(0), ("EXEMPTOUTPUT",), "GST Free Income"),
        DefaultTaxType(Kind.EXCLUDED, Decimal(0), ("BASEXCLUDED",), "BAS Excluded"),
    ),
    "NZ": (
        DefaultTaxType(Kind.STANDARD, Decimal(15), ("OUTPUT2",), "15% GST on Income"),
        DefaultTaxType(Kind.ZERO, Decimal(0), ("ZERORATED",), "Zero Rated"),
        DefaultTaxType(Kind.EXEMPT, Decimal(0), ("EXEMPTOUTPUT", "NONE"), "No GST"),
    ),
    "ZA": (
        DefaultTaxType(Kind.STANDARD, Decimal(15), ("OUTPUT3", "OUTPUT"), "Standard Rate Sales"),
        DefaultTaxType(Kind.ZERO, Decimal(0), ("ZERORATEDOUTPUT",), "Zero Rated"),
        DefaultTaxType(Kind.EXEMPT, Decimal(0), ("EXEMPTOUTPUT",), "Exempt and Non-Supplies"),
    ),
    "GB": (
        DefaultTaxType(Kind.STANDARD, Decimal(20), ("OUTPUT2",), "20% (VAT on Income)"),
        DefaultTaxType(Kind.REDUCED, Decimal(5), ("RROUTPUT",), "5% (VAT on Income)"),
        DefaultTaxType(Kind.ZERO, Decimal(0), ("ZERORATEDOUTPUT",), "Zero Rated Income"),
        DefaultTaxType(Kind.EXEMPT, Decimal(0), ("EXEMPTOUTPUT",), "Exempt Income"),
    ),
}
#: Xero's Organisation.CountryCode is GB; people (and Xero's "Version") say UK.
ALIASES = {"UK": "GB"}

_EXEMPT_WORDS = ("exempt", "gst free", "vat free", "tax free", "no gst", "no vat")
_EXCLUDED_WORDS = ("excluded", "out of scope", "outside the scope", "not reportable")


def defaults_for(country: str) -> tuple[DefaultTaxType, ...]:
    country = (country or "").upper()
    return DEFAULTS.get(ALIASES.get(country, country), ())


def kind_of(name: str, rate: Decimal) -> Kind:
    """What a local rate is, from its rate and (for 0%) the words in its name."""
    lowered = name.lower()
    if rate == 0:
        if any(word in lowered for word in _EXCLUDED_WORDS):
            return Kind.EXCLUDED
        if any(word in lowered for word in _EXEMPT_WORDS):
            return Kind.EXEMPT
        return Kind.ZERO
    return Kind.STANDARD


def candidates(country: str, name: str, rate: Decimal) -> list[str]:
    """Default TaxType codes for a local rate, best first (empty when the country has none)."""
    wanted = kind_of(name, rate)
    same_rate = [d for d in defaults_for(country) if d.rate == rate]
    # A 0% rate named "Exempt" wants the exempt code; a 5% or 20% rate just wants its rate.
    ordered = sorted(same_rate, key=lambda d: rate == 0 and d.kind != wanted)
    return [code for d in ordered for code in d.tax_types]
