"""The adapter over xero-python: one configured AccountingApi per call site, errors mapped to
``xero.api.errors``, and the SDK's pitfalls switched off.

- urllib3's silent retries are off: a PUT retried after a read time-out could create a
  second invoice behind our back, and a retried 429 would sleep inside a worker.
- Every call carries a time-out (the SDK has none by default).
- The SDK gets a token dict without expiry or refresh token: it must never
  refresh on its own, because Xero refresh tokens are single use and the portal refreshes
  them under a database lock (``xero.api.tokens``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import urllib3
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException

from xero.api.errors import AuthLost, NotFound, RateLimited, Retryable, ValidationFailed

#: (connect, read) seconds. Reads of big pages can take Xero a while.
DEFAULT_TIMEOUT = (5, 30)
WRITE_METHODS = {"PUT", "POST", "DELETE"}


def make_api_client(access_token: str) -> ApiClient:
    # Configuration() hands back a copy of the first one ever built and ignores its
    # arguments, so the token object is set on the copy.
    configuration = Configuration()
    configuration.oauth2_token = OAuth2Token()
    api_client = ApiClient(
        configuration,
        pool_threads=1,
        # No expires_at and no refresh token: the SDK treats the token as valid and never
        # tries to refresh it itself.
        oauth2_token_getter=lambda: {
            "access_token": access_token,
            "token_type": "Bearer",
            "scope": [],
            "expires_in": None,
        },
        oauth2_token_saver=lambda token: None,
    )
    api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return api_client


class XeroApi:
    """Calls to one organisation's Accounting API, counted and translated."""

    def __init__(
        self,
        accounting_url: str,
        access_token: str,
        tenant_id: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        on_call: Callable[[str], None] | None = None,
    ):
        self.tenant_id = tenant_id
        #: Kept to tell the token store which token Xero refused (never logged).
        self.access_token = access_token
        self.timeout = timeout
        self.accounting = AccountingApi(make_api_client(access_token), base_url=accounting_url)
        #: Called before every request with the SDK method's name (rate limiting, counting).
        self.on_call = on_call

    def call(self, method: str, *args: Any, write: bool = False, **kwargs: Any) -> Any:
        if self.on_call is not None:
            self.on_call(method)
        try:
            return getattr(self.accounting, method)(
                self.tenant_id, *args, _request_timeout=self.timeout, **kwargs
            )
        except ApiException as error:
            raise translate(error, write=write) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # A connection that was never made cannot have written anything.
            never_sent = isinstance(
                error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError
            )
            raise Retryable(
                f"Xero did not answer ({type(error).__name__})",
                outcome_unknown=write and not never_sent,
            ) from None


def translate(error: ApiException, *, write: bool) -> Exception:
    status = error.status if isinstance(error.status, int) else _http_status(error)
    headers = {k.lower(): v for k, v in (error.headers or {}).items()}
    if status == 429:
        try:
            retry_after = float(headers.get("retry-after", "60"))
        except ValueError:
            retry_after = 60.0
        return RateLimited(retry_after, headers.get("x-rate-limit-problem", ""))
    if status == 400:
        return ValidationFailed(validation_messages(_body_json(error)))
    if status in (401, 403):
        return AuthLost(f"Xero refused the connection ({status})")
    if status == 404:
        return NotFound("Xero has no such object")
    # 5xx: for a write, the change may or may not have been made.
    return Retryable(f"Xero answered {status}", outcome_unknown=write)


def _http_status(error: ApiException) -> int:
    return getattr(error.http_resp, "status", 0) or 0


def _body_json(error: ApiException) -> dict:
    body = error.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def validation_messages(data: dict) -> list[str]:
    """Xero's messages from an error body or one element: Elements[].ValidationErrors[]."""
    messages = [
        item.get("Message", "")
        for element in data.get("Elements", []) or [data]
        for item in element.get("ValidationErrors", []) or []
    ]
    if not messages and data.get("Message"):
        messages = [data["Message"]]
    return [m for m in messages if m]
