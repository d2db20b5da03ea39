"""Fixtures for the portal's pages: those that talk to Xero get the served sandbox of
tests/xero/conftest.py, with its contract check on their traffic too."""

from tests.xero.conftest import pytest_runtest_call, sandbox

__all__ = ["pytest_runtest_call", "sandbox"]
