"""Money received from a contact beyond what its invoices ask: a RECEIVE-OVERPAYMENT bank
transaction puts the money on the bank account and leaves it as the contact's credit (Xero
keeps it as an Overpayment, with its own OverpaymentID, to allocate or refund later)."""

from __future__ import annotations

from typing import Any

from .. import rules
from ..errors import ValidationFailure
from ..money import ZERO, round_money, to_decimal
from ..state import BankTransaction, Organisation, new_id
from ..xerojson import parse_date
from .batch import Batch, Plan


def prepare_bank_transaction(org: Organisation, data: dict[str, Any], batch: Batch) -> Plan:
    messages: list[str] = []
    if data.get("Type") != "RECEIVE-OVERPAYMENT":
        messages.append(rules.BANK_TRANSACTION_TYPE)
    contact_ref = data.get("Contact") or {}
    contact = None
    if isinstance(contact_ref, dict) and contact_ref.get("ContactID"):
        contact = org.contacts.get(str(contact_ref["ContactID"]).lower())
    if contact is None:
        messages.append(rules.CONTACT_NOT_FOUND)
    account = org.account_by_reference(data.get("BankAccount"))
    problem = rules.payment_account_problem(account)
    if problem:
        messages.append(problem)
    if data.get("LineAmountTypes", "NoTax") != "NoTax":
        messages.append(rules.OVERPAYMENT_NO_TAX)
    lines = data.get("LineItems") or []
    if not isinstance(lines, list) or not lines:
        messages.append(rules.LINE_ITEMS_REQUIRED)
        lines = []
    total = ZERO
    for line in lines:
        try:
            total += round_money(to_decimal((line or {}).get("LineAmount")))
        except ValueError:
            messages.append(rules.TOTAL_POSITIVE)
    if total <= ZERO:
        messages.append(rules.TOTAL_POSITIVE)
    try:
        day = parse_date(data["Date"]) if data.get("Date") else None
    except ValueError:
        messages.append("Date is not a valid date")  # sandbox wording
        day = None
    if messages:
        raise ValidationFailure(*dict.fromkeys(messages))
    assert contact is not None and account is not None
    description = str((lines[0] or {}).get("Description") or "")

    def apply() -> BankTransaction:
        from datetime import UTC, datetime

        transaction = BankTransaction(
            bank_transaction_id=new_id(),
            type="RECEIVE-OVERPAYMENT",
            bank_account_code=account.code,
            contact_name=contact.name,
            description=description,
            account_code="",
            amount=total,
            date=day or datetime.fromtimestamp(batch.now, tz=UTC).date(),
            reference=str(data.get("Reference") or ""),
            updated=batch.now,
            contact_id=contact.contact_id,
            overpayment_id=new_id(),
        )
        org.bank_transactions[transaction.bank_transaction_id] = transaction
        return transaction

    return apply
