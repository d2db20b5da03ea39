"""Xero's business rules and the exact messages it answers with.

Messages marked "Xero" are the texts Xero sends (seen in its API responses); the few marked
"sandbox" are our own wording where Xero's exact text is not known.
"""

from __future__ import annotations

from .state import Account, Organisation, TaxRate

# -- messages -------------------------------------------------------------------------------

# Xero
NOT_VALID_STATUS = "Invoice not of valid status for modification"
# Xero
HAS_PAYMENTS = "This document cannot be edited as it has a payment or credit note allocated to it."
# Xero
INVOICE_NUMBER_NOT_UNIQUE = "Invoice # must be unique."
# Xero
CONTACT_REQUIRED = "A Contact must be specified for this type of transaction"
# Xero
CONTACT_NAME_EMPTY = "Contact Name cannot be empty."
# Xero
EMAIL_INVALID = "Email address must be valid."
# Xero
ACCOUNT_CODE_REQUIRED = "Account code must be specified"
# Xero
PAYMENT_NOT_AUTHORISED = "Payments can only be made against Authorised documents"
# Xero
PAYMENT_EXCEEDS_DUE = "Payment amount exceeds the amount outstanding on this document"
# Xero
PAYMENT_ACCOUNT_INVALID = "Account type is invalid for making a payment to/from"
# Xero
PAYMENT_ONLY_STATUS = "Only Status accepted for updates."


def contact_name_taken(name: str) -> str:
    # Xero
    return (
        f"The contact name {name} is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    )


def account_code_invalid(code: str) -> str:
    # Xero
    return f"Account code '{code}' is not a valid code for this document."


def tax_type_invalid(tax_type: str) -> str:
    # Xero
    return (
        f"The TaxType code {tax_type} does not exist or cannot be used for this type of "
        "transaction."
    )


def tax_type_not_for_account(tax_type: str, code: str) -> str:
    # Xero
    return f"The TaxType code '{tax_type}' cannot be used with account code '{code}'."


def currency_not_subscribed(code: str) -> str:
    # Xero
    return f"Organisation is not subscribed to currency {code}"


# sandbox wording from here on
CONTACT_NOT_FOUND = "Contact could not be found"
INVOICE_NOT_FOUND = "Invoice could not be found"
ACCOUNT_NOT_FOUND = "Account could not be found"
BRANDING_THEME_NOT_FOUND = "Branding theme could not be found"
PAYMENT_AMOUNT_POSITIVE = "Payment amount must be greater than zero"
BANK_TRANSACTION_TYPE = (
    "The sandbox records only RECEIVE-OVERPAYMENT bank transactions"  # sandbox wording
)
LINE_ITEMS_REQUIRED = "At least one line item is required"  # sandbox wording
OVERPAYMENT_NO_TAX = "Overpayments can only have NoTax line amount types"  # sandbox wording
TOTAL_POSITIVE = "The total must be greater than zero"  # sandbox wording
PAYMENT_ALREADY_DELETED = "Payment has already been deleted"
ONLINE_INVOICE_NOT_AVAILABLE = "Online invoices are only available for approved invoices"
INVOICE_NOT_EMAILABLE = "Only approved invoices can be emailed"
CONTACT_HAS_NO_EMAIL = "The contact does not have an email address"


# -- invoice status machine ---------------------------------------------------------------

CREATE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})

#: Status changes a client may ask for. PAID is reached only by payments, and leaving PAID
#: only by deleting them; VOIDED and DELETED are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "DRAFT": frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"}),
    "SUBMITTED": frozenset({"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"}),
    "AUTHORISED": frozenset({"AUTHORISED", "VOIDED"}),
    "PAID": frozenset(),
    "VOIDED": frozenset(),
    "DELETED": frozenset(),
}

HISTORY_FOR_STATUS = {
    "SUBMITTED": "Submitted",
    "AUTHORISED": "Approved",
    "VOIDED": "Voided",
    "DELETED": "Deleted",
    "DRAFT": "Edited",
}


def line_account_problem(org: Organisation, code: str) -> tuple[Account | None, str | None]:
    """The account a line may post to, or the message refusing it.

    Bank accounts and the accounts Xero keeps for itself (receivables, payables, tax) cannot
    be used on invoice lines.
    """
    account = org.account_by_code(code)
    if (
        account is None
        or account.status != "ACTIVE"
        or account.type == "BANK"
        or account.system_account
    ):
        return None, account_code_invalid(code)
    return account, None


def tax_rate_problems(
    org: Organisation, tax_type: str, invoice_type: str, account: Account | None
) -> tuple[TaxRate | None, list[str]]:
    rate = org.tax_rates.get(tax_type)
    needed = "REVENUE" if invoice_type == "ACCREC" else "EXPENSE"
    if rate is None or rate.status != "ACTIVE" or needed not in rate.applies_to:
        return None, [tax_type_invalid(tax_type)]
    if account is not None and account.account_class not in rate.applies_to:
        return rate, [tax_type_not_for_account(tax_type, account.code)]
    return rate, []


def payment_account_problem(account: Account | None) -> str | None:
    if account is None:
        return ACCOUNT_NOT_FOUND
    if account.type != "BANK" and not account.enable_payments_to_account:
        return PAYMENT_ACCOUNT_INVALID
    return None
