"""Imports every model so that their tables are on ``Base.metadata`` (for Alembic and tests)."""

from billing.customers import Customer
from billing.db import Base
from billing.invoices import Invoice, InvoiceLine, Payment
from billing.login_throttle import LoginFailure
from billing.numbering import InvoiceNumberSequence
from billing.services import Service, TaxRate
from billing.users import User

__all__ = [
    "Base",
    "Customer",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "LoginFailure",
    "Payment",
    "Service",
    "TaxRate",
    "User",
]
