"""What a member is told about an invoice they paid twice (billing.payments.overpayments): only on
their own invoice's page, which is already limited to their company's invoices."""

from billing.invoices.model import Invoice
from billing.payments.overpayments import Overpayment, OverpaymentStatus, of_invoice
from portal.db import get_db
from portal.member import bp


@bp.app_template_global()
def member_overpayments(invoice: Invoice) -> list[Overpayment]:
    # One whose held payment came to pay the invoice in the end is no longer extra money.
    return [o for o in of_invoice(get_db(), invoice.id) if o.state is not OverpaymentStatus.APPLIED]
