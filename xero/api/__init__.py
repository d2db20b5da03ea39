"""Talking to Xero: the typed port, its adapter over xero-python, tokens and connections."""
