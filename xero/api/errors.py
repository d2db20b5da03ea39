"""What can go wrong talking to Xero, as the sync worker needs to tell it apart."""

from __future__ import annotations


class XeroError(Exception):
    """Base class. ``str(error)`` is fit to show an admin; it never contains a token."""


class Retryable(XeroError):
    """Worth trying again later: 5xx, time-outs, dropped connections.

    ``outcome_unknown`` is set when a write may have been carried out (the request was sent
    but no answer came back): look the object up before writing it again.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False):
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class RateLimited(XeroError):
    """429: nobody may call this organisation for ``retry_after`` seconds."""

    def __init__(self, retry_after: float, problem: str = "", *, whole_organisation: bool = True):
        super().__init__(f"Xero's {problem or 'rate'} limit reached; retry in {retry_after:.0f} s")
        self.retry_after = retry_after
        self.problem = problem
        #: False for the follow-ups' own share of the budget: only they wait, money does not.
        self.whole_organisation = whole_organisation


class ValidationFailed(XeroError):
    """Xero refused the data; retrying the same data cannot help. Carries Xero's messages."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages) or "Xero refused the request")
        self.messages = messages


class IdentityCallFailed(XeroError):
    """Xero's identity service (connections, revocation) refused a request or did not
    answer. ``status`` is its HTTP status; None when no answer came."""

    def __init__(self, status: int | None, reason: str = ""):
        super().__init__(
            f"it answered {status}" if status is not None else f"it did not answer ({reason})"
        )
        self.status = status


class AuthLost(XeroError):
    """The connection no longer works (token revoked or expired, tenant not granted)."""


class NotFound(XeroError):
    """The Xero object does not exist (404)."""


class NotConnected(XeroError):
    """No active Xero connection: sync jobs wait until an admin connects."""
