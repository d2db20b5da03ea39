"""Invoices: the model and its state machine, the operations on it, numbering, the row lock
every change of money or state takes first, the money invariants, and line-account fixes."""
