"""The Xero settings: choices read live from the organisation with their checks, the
ledger rules an invoice line must meet, and per-country tax defaults."""
