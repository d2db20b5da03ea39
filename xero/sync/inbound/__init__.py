"""What Xero says, into the portal: webhook events (``events``), the poller (``poller``),
reading invoices (``reading``) and the rules that apply what was read (``rules``)."""
