"""Correcting the sales account of a line on an issued invoice.

An invoice Xero refused for a line's account (an account it does not have) would otherwise
be stuck: issued in the portal, absent from Xero, fixable only by voiding it. The account is
bookkeeping, not money (amounts and tax stay as issued), so it may change while the invoice
awaits payment; the caller then sends the invoice to Xero again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from billing.errors import InvoiceNotEditable, NotFound
from billing.invoices.locking import lock_invoice
from billing.invoices.model import InvoiceLine, InvoiceStatus


@dataclass(frozen=True)
class AccountChange:
    line: InvoiceLine
    old_code: str
    new_code: str


def change_line_account(
    db: Session, invoice_id: int, line_id: int, account_code: str
) -> AccountChange:
    """Set one line's account code on an awaiting-payment invoice (flush only)."""
    invoice = lock_invoice(db, invoice_id)
    if invoice.state is not InvoiceStatus.AWAITING_PAYMENT:
        raise InvoiceNotEditable(
            f"Only an awaiting-payment invoice's accounts can be corrected; this one is "
            f"{invoice.state.label.lower()}."
        )
    line = next((ln for ln in invoice.lines if ln.id == line_id), None)
    if line is None:
        raise NotFound("That line is not on this invoice.")
    code = account_code.strip()
    change = AccountChange(line, line.account_code, code)
    line.account_code = code
    db.flush()
    return change
