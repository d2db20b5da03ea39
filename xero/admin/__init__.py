"""What the admin pages read and decide about Xero: the sync log, the ledger check, a
customer's Xero contact, and the trial run."""
