"""Writes to an organisation's books, with Xero's validation.

Each ``prepare_*`` function checks one element of a request against the organisation (and
against the elements before it in the same batch) and returns a plan: a function that makes
the change. Nothing is written until every element of a ``summarizeErrors=true`` request has
passed, which is how Xero saves all or nothing. Callers hold ``Sandbox.lock`` throughout.
"""
