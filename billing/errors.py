"""Named errors of the billing domain. The web layer turns them into messages."""

from __future__ import annotations


class BillingError(Exception):
    """Base class: a request the domain refuses, with a message fit for the user."""


class NotFound(BillingError):
    """An id that does not exist, or that the caller may not see."""


class InvalidAmount(BillingError):
    """A money amount or quantity outside what the domain accepts."""


class CurrencyMismatch(BillingError):
    """Amounts in different currencies were combined."""


class IllegalTransition(BillingError):
    """An invoice was asked to move to a state its current state does not lead to."""

    def __init__(self, current: str, requested: str):
        self.current = current
        self.requested = requested
        super().__init__(f"An invoice that is {current} cannot become {requested}.")


class InvoiceNotEditable(BillingError):
    """A change that Xero does not allow on an invoice in this state."""


class ServiceUnavailable(BillingError):
    """An archived or unknown service was put on an invoice."""


class Overpayment(BillingError):
    """A payment larger than the amount due."""
