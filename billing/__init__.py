"""The billing domain: money, tax, customers, the service library, invoices and payments.

Nothing here imports Flask: the web layer (``portal``) and the Xero integration (``xero``)
depend on this package, never the other way round.
"""
