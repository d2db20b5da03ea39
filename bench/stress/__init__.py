"""Stress: the money races of issue 7, run against the portal as production runs it.

``make stress`` (``python -m bench.stress``) builds, on PostgreSQL, the portal's whole
production shape on loopback (``stack``): a scratch database, the Xero sandbox served with
its signed INVOICE webhooks pointed at the portal, localstripe, ONE gunicorn with TWO
workers serving the portal and THREE ``flask xero worker`` processes. Then (``scenario``)
a bounded pool of HTTP clients plays admins and members at once on 300 invoices: Issue
double-clicked, card payments through the member pay endpoints (from two tabs with
slightly different amounts on some), the sandbox's "Pay now" on the same invoices, admin
voids racing card payments, partial refunds, and Stripe's signed events posted again,
duplicated and out of order. Once the workers have drained, ``counts`` computes from the
database, localstripe and the sandbox what went wrong, and one JSON line is printed; the
exit status is non-zero when any count is above zero.

It measures and reports; it fixes nothing and asserts no timing.
"""
