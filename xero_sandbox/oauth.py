"""Xero's identity service, as state: apps, users, consents, tokens and connections.

Rules that bite in production and are kept here:
- access tokens expire 30 minutes after issue;
- refresh tokens rotate: a used one can be retried for 30 minutes (the answer to its first
  use was perhaps lost) and gets that same new pair again, then it is ``invalid_grant``;
- a refresh token expires 60 days after issue;
- a token reaches only the organisations its user connected to the app (403 otherwise);
- revoking a refresh token ends the whole grant and removes the app's connections.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .state import new_id

ACCESS_TOKEN_SECONDS = 30 * 60
REFRESH_TOKEN_SECONDS = 60 * 24 * 60 * 60
#: How long a used refresh token may be retried, answering with the pair its first use got.
REFRESH_RETRY_SECONDS = 30 * 60
AUTHORIZATION_CODE_SECONDS = 5 * 60
DEFAULT_USER = "sandbox.user@example.com"


class OAuthError(Exception):
    """An OAuth error answered as ``{"error": code}`` (RFC 6749 section 5.2)."""

    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str | None
    #: None accepts any redirect URI (handy for the demo); otherwise an exact match is needed.
    redirect_uris: list[str] | None
    name: str = "Sandbox app"


@dataclass
class Connection:
    connection_id: str
    tenant_id: str
    auth_event_id: str
    created: float
    updated: float


@dataclass
class Grant:
    """One consent (Xero's authEventId): the tokens descending from it share its fate."""

    grant_id: str
    client_id: str
    user: str
    scope: str
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant_id: str
    expires_at: float


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    expires_at: float
    used: bool = False
    used_at: float = 0.0
    #: The token response its first use got, given again to a retry within the grace period.
    issued: dict[str, Any] | None = None


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    user: str
    scope: str
    tenant_ids: list[str]
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False


@dataclass
class Authorisation:
    """Who is calling: the outcome of checking a bearer token."""

    grant: Grant
    tenant_ids: set[str] = field(default_factory=set)


class IdentityProvider:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self.clients: dict[str, OAuthClient] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        #: (client_id, user) -> connections; Xero keeps connections per user and app.
        self.connections: dict[tuple[str, str], list[Connection]] = {}

    # -- apps -----------------------------------------------------------------------------

    def register_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: list[str] | None = None,
        name: str = "Sandbox app",
    ) -> OAuthClient:
        with self._lock:
            client = OAuthClient(client_id, client_secret, redirect_uris, name)
            self.clients[client_id] = client
            return client

    def client_for_authorize(self, client_id: str, redirect_uri: str) -> OAuthClient:
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("unauthorized_client")
        if client.redirect_uris is not None and redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request")
        return client

    def _authenticate_client(self, client_id: str | None, client_secret: str | None) -> OAuthClient:
        client = self.clients.get(client_id or "")
        if client is None:
            raise OAuthError("invalid_client")
        if client.client_secret is not None and not hmac.compare_digest(
            client.client_secret, client_secret or ""
        ):
            raise OAuthError("invalid_client")
        return client

    # -- consent and tokens ---------------------------------------------------------------

    def issue_code(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        tenant_ids: list[str],
        user: str = DEFAULT_USER,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        if code_challenge and (code_challenge_method or "plain") != "S256":
            # Xero supports only S256; "plain" PKCE would defeat its purpose.
            raise OAuthError("invalid_request")
        with self._lock:
            code = secrets.token_urlsafe(24)
            self.codes[code] = AuthorizationCode(
                code,
                client_id,
                redirect_uri,
                user,
                scope,
                list(tenant_ids),
                self.clock.now() + AUTHORIZATION_CODE_SECONDS,
                code_challenge,
                code_challenge_method,
            )
            return code

    def exchange_code(
        self,
        code: str,
        redirect_uri: str | None,
        client_id: str | None,
        client_secret: str | None,
        code_verifier: str | None,
    ) -> dict[str, Any]:
        with self._lock:
            entry = self.codes.get(code)
            if entry is None or entry.used or entry.expires_at < self.clock.now():
                raise OAuthError("invalid_grant")
            client = self.clients.get(client_id or entry.client_id)
            if client is None or client.client_id != entry.client_id:
                raise OAuthError("invalid_client")
            if entry.code_challenge:
                if not code_verifier or not _s256_matches(code_verifier, entry.code_challenge):
                    raise OAuthError("invalid_grant")
                # A PKCE public client has no secret; a confidential one still proves itself.
                if client.client_secret is not None:
                    self._authenticate_client(client.client_id, client_secret)
            else:
                self._authenticate_client(client.client_id, client_secret)
            if redirect_uri is not None and redirect_uri != entry.redirect_uri:
                raise OAuthError("invalid_grant")
            entry.used = True
            grant = Grant(new_id(), entry.client_id, entry.user, entry.scope)
            self.grants[grant.grant_id] = grant
            self._connect(grant, entry.tenant_ids)
            return self._token_response(grant)

    def refresh(
        self, refresh_token: str, client_id: str | None, client_secret: str | None
    ) -> dict[str, Any]:
        with self._lock:
            now = self.clock.now()
            entry = self.refresh_tokens.get(refresh_token)
            if entry is None or entry.expires_at <= now:
                raise OAuthError("invalid_grant")
            if entry.used and now - entry.used_at >= REFRESH_RETRY_SECONDS:
                raise OAuthError("invalid_grant")
            grant = self.grants[entry.grant_id]
            if grant.revoked:
                raise OAuthError("invalid_grant")
            client = self._authenticate_client(client_id or grant.client_id, client_secret)
            if client.client_id != grant.client_id:
                raise OAuthError("invalid_grant")
            if entry.used and entry.issued is not None:
                return dict(entry.issued)
            entry.used, entry.used_at = True, now
            entry.issued = self._token_response(grant)
            return dict(entry.issued)

    def revoke(self, token: str, client_id: str | None, client_secret: str | None) -> None:
        with self._lock:
            entry = self.refresh_tokens.get(token)
            if entry is None:
                return  # RFC 7009: unknown tokens are not an error
            grant = self.grants[entry.grant_id]
            self._authenticate_client(client_id or grant.client_id, client_secret)
            grant.revoked = True
            self.connections.pop((grant.client_id, grant.user), None)

    def connect(
        self,
        client_id: str,
        tenant_ids: list[str],
        user: str = DEFAULT_USER,
        scope: str = "offline_access accounting.transactions accounting.contacts "
        "accounting.settings paymentservices",
    ) -> dict[str, Any]:
        """Grant consent directly (no browser) and return the token response."""
        with self._lock:
            if client_id not in self.clients:
                raise OAuthError("invalid_client")
            grant = Grant(new_id(), client_id, user, scope)
            self.grants[grant.grant_id] = grant
            self._connect(grant, tenant_ids)
            return self._token_response(grant)

    def _connect(self, grant: Grant, tenant_ids: list[str]) -> None:
        now = self.clock.now()
        existing = self.connections.setdefault((grant.client_id, grant.user), [])
        for tenant_id in tenant_ids:
            current = next((c for c in existing if c.tenant_id == tenant_id), None)
            if current:
                current.updated = now
                current.auth_event_id = grant.grant_id
            else:
                existing.append(Connection(new_id(), tenant_id, grant.grant_id, now, now))

    def _token_response(self, grant: Grant) -> dict[str, Any]:
        access = AccessToken(
            secrets.token_urlsafe(32), grant.grant_id, self.clock.now() + ACCESS_TOKEN_SECONDS
        )
        self.access_tokens[access.token] = access
        response = {
            "access_token": access.token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if "offline_access" in grant.scope.split():
            refresh = RefreshToken(
                secrets.token_urlsafe(32),
                grant.grant_id,
                self.clock.now() + REFRESH_TOKEN_SECONDS,
            )
            self.refresh_tokens[refresh.token] = refresh
            response["refresh_token"] = refresh.token
        return response

    # -- checking calls -------------------------------------------------------------------

    def authorise(self, access_token: str | None) -> tuple[Authorisation | None, str]:
        """The caller behind a bearer token, or None and the reason Xero would give."""
        with self._lock:
            entry = self.access_tokens.get(access_token or "")
            if entry is None:
                return None, "AuthenticationUnsuccessful"
            grant = self.grants[entry.grant_id]
            if grant.revoked:
                return None, "AuthenticationUnsuccessful"
            if entry.expires_at <= self.clock.now():
                return None, "TokenExpired: token expired"
            tenants = {c.tenant_id for c in self.connections.get((grant.client_id, grant.user), [])}
            return Authorisation(grant, tenants), ""

    def connections_for(self, grant: Grant) -> list[Connection]:
        with self._lock:
            return list(self.connections.get((grant.client_id, grant.user), []))

    def disconnect(self, grant: Grant, connection_id: str) -> bool:
        with self._lock:
            existing = self.connections.get((grant.client_id, grant.user), [])
            for connection in existing:
                if connection.connection_id == connection_id:
                    existing.remove(connection)
                    return True
            return False


def _s256_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(expected, challenge)


def s256_challenge(verifier: str) -> str:
    """The PKCE S256 challenge for a verifier (for clients and tests)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
