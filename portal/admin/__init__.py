from flask import Blueprint

from portal.access import require_admin

bp = Blueprint("admin", __name__)
bp.before_request(require_admin)

from portal.admin import (  # noqa: E402,F401
    billing_run,
    charges,
    customers,
    home,
    inbox,
    invoice_accounts,
    invoices,
    member_logins,
    membership_end,
    needs_attention,
    payment_settings,
    reconcile,
    reports,
    services,
    sync_log,
    tax_rates,
    trial_run,
    xero_connection,
    xero_customers,
    xero_settings,
)
