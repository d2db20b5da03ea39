"""Imports every model so that their tables are on ``Base.metadata`` (for Alembic and tests)."""

from billing.cards.model import CardPaymentAttempt, CardSetupRequest, PaymentSettings
from billing.customers import Customer
from billing.db import Base
from billing.inbox import InboundEvent
from billing.invoices.model import Invoice, InvoiceLine, Payment
from billing.invoices.numbering import InvoiceNumberSequence
from billing.login_throttle import LoginFailure
from billing.payments.overpayments import Overpayment
from billing.recovery_codes import RecoveryCode
from billing.recurring.model import Membership, MembershipCharge
from billing.services import Service, TaxRate
from billing.users import User

__all__ = [
    "Base",
    "CardPaymentAttempt",
    "CardSetupRequest",
    "PaymentSettings",
    "Customer",
    "InboundEvent",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "LoginFailure",
    "Membership",
    "MembershipCharge",
    "Overpayment",
    "Payment",
    "RecoveryCode",
    "Service",
    "TaxRate",
    "User",
]
