"""Payments against invoices from either side, and money that came in twice (overpayments:
held, then refunded or kept as credit)."""
