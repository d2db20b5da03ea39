"""Keeping the portal and Xero in step."""
