"""Checking the sandbox's traffic against Xero's official OpenAPI descriptions.

A sandbox that drifts from Xero is worse than none: tests would pass against behaviour
production never shows. With checking on (tests turn it on), every accounting and
connections request the sandbox receives and every response it sends is validated with
openapi-core against ``../shared/xero-openapi/`` beside the project, and each mismatch is
kept as a ``ContractViolation`` on the sandbox.

Two deliberate allowances, both from the README beside the descriptions:
- the accounting description is loaded without checking the document itself (it has
  boolean properties whose default is the string 'false');
- xero-python always writes the read-only flags HasAttachments, HasErrors,
  HasValidationErrors and HasAccount as ``false``, which Xero ignores, so exactly those keys
  are dropped from request bodies when they are ``false``. Any other read-only field in a
  request is reported.
Responses whose status the description does not document (401, 403, 404, 429, 5xx) are not
checked: there is no schema to check them against.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import Headers, ImmutableMultiDict

#: Read-only flags the SDK sends as false on every object it writes; dropped only when false.
SDK_FALSE_FLAGS = frozenset({"HasAttachments", "HasErrors", "HasValidationErrors", "HasAccount"})

ACCOUNTING_PREFIX = "/api.xro/2.0"
XERO_HOST = "https://api.xero.com"

_cache_lock = threading.Lock()
_spec_cache: dict[str, Any] = {}


def default_spec_dir() -> Path:
    """``<repo>/../shared/xero-openapi``, or $XERO_OPENAPI_DIR."""
    configured = os.environ.get("XERO_OPENAPI_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "xero-openapi"


@dataclass(frozen=True)
class ContractViolation:
    api: str
    direction: str  # "request" or "response"
    method: str
    path: str
    status: int | None
    message: str

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status else ""
        return f"{self.direction} {self.method} {self.path}{status}: {self.message}"


class _SpecRequest:
    """A request as openapi-core sees it, addressed to Xero's own server URL."""

    def __init__(
        self,
        path: str,
        method: str,
        query: ImmutableMultiDict[str, str],
        headers: Headers,
        body: bytes | None,
        content_type: str,
    ) -> None:
        from openapi_core.datatypes import RequestParameters

        self.host_url = XERO_HOST
        self.path = path
        self.method = method.lower()
        self.body = body
        self.content_type = content_type or "application/octet-stream"
        self.parameters = RequestParameters(query=query, header=headers)


class _SpecResponse:
    def __init__(self, status: int, data: bytes, content_type: str, headers: Headers) -> None:
        self.status_code = status
        self.data = data
        self.content_type = content_type
        self.headers = headers


def _security_providers() -> Any:
    """openapi-core's providers, with OAuth2 checked as "a bearer token is present".

    openapi-core cannot check OAuth2 itself (it warns on every call); presence is what the
    contract says, and whether the token is good is the sandbox's own business.
    """
    from openapi_core.security.exceptions import SecurityProviderError
    from openapi_core.security.factories import SecurityProviderFactory
    from openapi_core.security.providers import BaseProvider

    class BearerTokenProvider(BaseProvider):
        def __call__(self, parameters: Any) -> Any:
            header = parameters.header.get("Authorization", "")
            if not header.lower().startswith("bearer "):
                raise SecurityProviderError("Missing bearer token.")
            return header

    class XeroSecurityProviders(SecurityProviderFactory):
        PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": BearerTokenProvider}

    return XeroSecurityProviders()


def _load_spec(path: Path) -> Any:
    from openapi_core import Config, OpenAPI

    key = str(path)
    with _cache_lock:
        if key not in _spec_cache:
            # Loading and resolving ~900 KB of YAML is slow: once per process.
            _spec_cache[key] = OpenAPI.from_file_path(
                key,
                config=Config(
                    spec_validator_cls=None, security_provider_factory=_security_providers()
                ),
            )
        return _spec_cache[key]


def drop_sdk_false_flags(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: drop_sdk_false_flags(v)
            for k, v in value.items()
            if not (k in SDK_FALSE_FLAGS and v is False)
        }
    if isinstance(value, list):
        return [drop_sdk_false_flags(v) for v in value]
    return value


def _describe(error: Exception) -> str:
    parts = [str(error)]
    cause = error.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for schema_error in schema_errors:
                where = "/".join(str(p) for p in getattr(schema_error, "absolute_path", []))
                parts.append(
                    f"{where or '<body>'}: {getattr(schema_error, 'message', schema_error)}"
                )
            break
        parts.append(str(cause))
        cause = cause.__cause__
    return " | ".join(dict.fromkeys(p for p in parts if p))


class ContractChecker:
    def __init__(self, spec_dir: Path) -> None:
        self.spec_dir = spec_dir
        self.accounting = _load_spec(spec_dir / "xero_accounting.yaml")
        self.identity = _load_spec(spec_dir / "xero-identity.yaml")

    @classmethod
    def load(cls, spec_dir: str | Path | None = None) -> ContractChecker | None:
        """The checker, or None (with the reason printed) when the descriptions are absent."""
        directory = Path(spec_dir) if spec_dir else default_spec_dir()
        if not (directory / "xero_accounting.yaml").is_file():
            print(
                f"xero sandbox: contract checking skipped: no Xero OpenAPI descriptions at "
                f"{directory}",
                file=sys.stderr,
            )
            return None
        return cls(directory)

    def _target(self, path: str) -> tuple[str, Any, str] | None:
        """(api name, spec, path as Xero's server sees it) for the paths we check."""
        if path.startswith(ACCOUNTING_PREFIX + "/"):
            return "accounting", self.accounting, path
        if path.lower().startswith("/connections"):
            return "identity", self.identity, "/Connections" + path[len("/connections") :]
        return None

    def spec_request(self, request: Any) -> tuple[str, Any, _SpecRequest] | None:
        target = self._target(request.path)
        if target is None:
            return None
        api, spec, path = target
        body = request.get_data(cache=True) or None
        if body and request.mimetype == "application/json":
            # An unparseable body is left as it is for the validator to report.
            with contextlib.suppress(ValueError):
                body = json.dumps(drop_sdk_false_flags(json.loads(body))).encode()
        spec_request = _SpecRequest(
            path,
            request.method,
            ImmutableMultiDict(request.args),
            Headers(request.headers),
            body,
            request.content_type or "",
        )
        return api, spec, spec_request

    def check_request(self, request: Any) -> list[ContractViolation]:
        prepared = self.spec_request(request)
        if prepared is None:
            return []
        api, spec, spec_request = prepared
        return [
            ContractViolation(
                api, "request", request.method, request.full_path.rstrip("?"), None, _describe(e)
            )
            for e in spec.iter_request_errors(spec_request)
        ]

    def check_response(self, request: Any, response: Any) -> list[ContractViolation]:
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        prepared = self.spec_request(request)
        if prepared is None:
            return []
        api, spec, spec_request = prepared
        spec_response = _SpecResponse(
            response.status_code,
            response.get_data(),
            response.mimetype or "",
            Headers(response.headers),
        )
        violations = []
        for error in spec.iter_response_errors(spec_request, spec_response):
            if isinstance(error, ResponseNotFound | PathError):
                continue  # undocumented status, or a request already reported
            violations.append(
                ContractViolation(
                    api,
                    "response",
                    request.method,
                    request.full_path.rstrip("?"),
                    response.status_code,
                    _describe(error),
                )
            )
        return violations
