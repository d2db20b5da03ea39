from flask import Blueprint

from portal.access import require_admin

bp = Blueprint("admin", __name__)
bp.before_request(require_admin)

from portal.admin import customers, home, invoices, services, tax_rates  # noqa: E402,F401
from portal.admin import (  # noqa: E402,F401
    sync_log,
    xero_connection,
    xero_customers,
    xero_settings,
)
