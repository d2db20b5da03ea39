"""Would Xero take an invoice line with this sales account and tax rate?

A service names a Xero account code and a local tax rate (mapped to a Xero TaxType in the Xero
settings). Xero refuses a line whose account it does not have, or cannot take on an invoice,
or whose tax rate does not apply to that account's class; an invoice issued with such a line
would fail to sync and could only be voided. So services are checked when they are saved and
their lines again before an invoice is issued, against the organisation's accounts and tax
rates as the Xero settings page last read them (a snapshot, so a save costs no Xero call).
Not connected: nothing is checked, as before.

These functions flush and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.invoices.model import Invoice
from xero.api.tokens import active_connection
from xero.models import ConnectionStatus, LedgerSnapshot, TaxRateMapping
from xero.settings.choices import Account, Ledger, XeroTaxRate


def remember(db: Session, tenant_id: str, ledger: Ledger, now: datetime) -> None:
    """Keep the accounts and tax rates Xero just listed, replacing the last ones."""
    snapshot = db.get(LedgerSnapshot, tenant_id) or LedgerSnapshot(tenant_id=tenant_id)
    snapshot.accounts_json = json.dumps([asdict(a) for a in ledger.accounts])
    snapshot.tax_rates_json = json.dumps(
        [
            {**asdict(r), "rate": str(r.rate), "applies_to": sorted(r.applies_to)}
            for r in ledger.tax_rates
        ]
    )
    snapshot.read_at = now
    db.add(snapshot)
    db.flush()


def remembered(db: Session, tenant_id: str) -> Ledger | None:
    snapshot = db.get(LedgerSnapshot, tenant_id)
    if snapshot is None:
        return None
    accounts = [Account(**a) for a in json.loads(snapshot.accounts_json)]
    rates = [
        XeroTaxRate(**{**r, "rate": Decimal(r["rate"]), "applies_to": frozenset(r["applies_to"])})
        for r in json.loads(snapshot.tax_rates_json)
    ]
    return Ledger("", "", "", accounts, rates, [])


def connected_tenant(db: Session) -> str | None:
    connection = active_connection(db)
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        return None
    return connection.tenant_id


def ledger_to_check(
    db: Session, read: Callable[[], Ledger], now: Callable[[], datetime]
) -> Ledger | None:
    """The connected organisation's ledger: the snapshot, or (none yet) read from Xero with
    ``read`` and remembered. None when Xero is not connected. ``read`` may raise XeroError."""
    tenant_id = connected_tenant(db)
    if tenant_id is None:
        return None
    ledger = remembered(db, tenant_id)
    if ledger is None:
        ledger = read()
        remember(db, tenant_id, ledger, now())
    return ledger


def tax_type_for(db: Session, tax_rate_id: int) -> str | None:
    return db.scalar(
        select(TaxRateMapping.tax_type).where(TaxRateMapping.tax_rate_id == tax_rate_id)
    )


def account_problem(ledger: Ledger, code: str) -> str:
    """Why Xero would refuse ``code`` on an invoice line ("" when it would not)."""
    account = ledger.account(code)
    if account is None:
        return f"Xero has no account with code {code!r}."
    if not account.usable_on_invoice_lines:
        return f"Xero does not accept {account.label} on invoice lines."
    return ""


def tax_problem(ledger: Ledger, code: str, tax_type: str | None, rate_name: str) -> str:
    """Why Xero would refuse the tax rate mapped to ``rate_name`` on account ``code``.
    An unmapped rate is left to the Xero settings page (the sync says so too)."""
    if not tax_type:
        return ""
    xero_rate = ledger.tax_rate(tax_type)
    if xero_rate is None or not xero_rate.for_sales:
        return (
            f"{rate_name} is mapped to {tax_type!r}, which is not an active sales tax rate in "
            "Xero: change the mapping in the Xero settings."
        )
    account = ledger.account(code)
    if account is not None and account.account_class not in xero_rate.applies_to:
        return (
            f"Xero does not allow {xero_rate.name} ({tax_type}) on account {account.label}: "
            "choose another account or tax rate."
        )
    return ""


def line_problems(db: Session, ledger: Ledger, invoice: Invoice) -> list[str]:
    """Every line Xero would refuse, each message naming its line."""
    problems = []
    for number, line in enumerate(sorted(invoice.lines, key=lambda ln: ln.position), start=1):
        first = line.description.splitlines()[0][:60] if line.description else ""
        name = f"Line {number} ({first})"
        tax_type = tax_type_for(db, line.tax_rate_id)
        for problem in (
            account_problem(ledger, line.account_code),
            tax_problem(ledger, line.account_code, tax_type, line.tax_rate.name),
        ):
            if problem:
                problems.append(f"{name}: {problem}")
    return problems
