"""OAuth2 with Xero: the authorization-code flow (state, PKCE), connections, and the
access token every API call needs.

Xero refresh tokens rotate and are single use. Two workers refreshing at once would each
spend the same refresh token and one would break the connection, so a refresh happens
only while holding a row lock on the connection, and the new pair is committed at once,
before anything else can fail and roll it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from authlib.common.security import generate_token
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import utcnow
from billing.encryption import SecretBox
from xero.api.current_connection import active_connection as active_connection
from xero.api.endpoints import SCOPES, XeroEndpoints
from xero.api.errors import AuthLost, IdentityCallFailed, NotConnected, Retryable
from xero.api.records import GrantedTenant
from xero.models import ConnectionStatus, XeroConnection

# authlib's OAuth client and xero-python's identity and accounting modules take about half
# a second to import; they are imported where the portal talks to Xero's identity service
# (connecting, refreshing a token), so that a process serving members starts without them.
if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session
    from xero_python.identity import IdentityApi

HTTP_TIMEOUT = 15
#: Refresh a little before expiry, so a token never dies in the middle of a batch.
EARLY_REFRESH = timedelta(minutes=2)
REFRESH_TOKEN_LIFETIME = timedelta(days=60)


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uri: str
    endpoints: XeroEndpoints

    def session(self, **kwargs: Any) -> OAuth2Session:
        from authlib.integrations.requests_client import OAuth2Session

        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=SCOPES,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint=self.endpoints.token_url,
            **kwargs,
        )


def authorization_request(app: OAuthApp) -> tuple[str, str, str]:
    """The URL to send the admin to, with the state and PKCE verifier to keep in the session."""
    verifier = generate_token(64)
    url, state = app.session().create_authorization_url(
        app.endpoints.authorize_url, code_verifier=verifier
    )
    return url, state, verifier


def exchange_code(app: OAuthApp, callback_url: str, *, state: str, verifier: str) -> dict[str, Any]:
    """Trade the callback's code for tokens; a forged or reused ``state`` is refused."""
    from authlib.integrations.base_client.errors import OAuthError

    session = app.session(state=state)
    try:
        return dict(
            session.fetch_token(
                app.endpoints.token_url,
                authorization_response=callback_url,
                code_verifier=verifier,
                timeout=HTTP_TIMEOUT,
            )
        )
    except OAuthError as error:
        raise AuthLost(f"Xero refused the sign-in: {error.error}") from None
    except requests.RequestException:
        raise Retryable("Xero's sign-in service did not answer") from None


def _identity(app: OAuthApp, access_token: str) -> IdentityApi:
    from xero_python.identity import IdentityApi

    from xero.api.client import make_api_client

    return IdentityApi(make_api_client(access_token), base_url=app.endpoints.identity_url)


def _identity_failure(error: Exception) -> IdentityCallFailed:
    from xero_python.exceptions import ApiException

    if isinstance(error, ApiException):
        status = error.status if isinstance(error.status, int) else None
        return IdentityCallFailed(status, type(error).__name__)
    return IdentityCallFailed(None, type(error).__name__)


def list_connections(app: OAuthApp, access_token: str) -> list[GrantedTenant]:
    """The organisations this consent granted (practices are left out). Raises AuthLost
    when Xero refuses the token, IdentityCallFailed for any other failure."""
    from xero_python.exceptions import ApiException

    try:
        found = _identity(app, access_token).get_connections(_request_timeout=HTTP_TIMEOUT)
    except ApiException as error:
        if error.status in (401, 403):
            raise AuthLost("Xero refused the access token") from None
        raise _identity_failure(error) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise _identity_failure(error) from None
    tenants = [
        GrantedTenant(
            connection_id=str(c.id or ""),
            tenant_id=str(c.tenant_id or ""),
            tenant_name=str(c.tenant_name or ""),
            tenant_type=str(c.tenant_type or "ORGANISATION"),
        )
        for c in found or []
    ]
    return [t for t in tenants if t.tenant_type == "ORGANISATION"]


def store_tokens(
    connection: XeroConnection, token: dict[str, Any], box: SecretBox, now: datetime
) -> None:
    connection.access_token_encrypted = box.encrypt(token["access_token"])
    connection.refresh_token_encrypted = box.encrypt(token["refresh_token"])
    connection.access_token_expires_at = now + timedelta(seconds=int(token.get("expires_in", 1800)))
    connection.refresh_token_issued_at = now
    connection.scopes = (
        token.get("scope", SCOPES) if isinstance(token.get("scope"), str) else SCOPES
    )


def refresh(app: OAuthApp, refresh_token: str) -> dict[str, Any]:
    from authlib.integrations.base_client.errors import OAuthError

    try:
        return dict(
            app.session().refresh_token(
                app.endpoints.token_url, refresh_token=refresh_token, timeout=HTTP_TIMEOUT
            )
        )
    except OAuthError as error:
        # invalid_grant: revoked, expired or already used. Only an admin can fix that.
        raise AuthLost(f"Xero refused the refresh token ({error.error})") from None
    except requests.RequestException:
        raise Retryable("Xero's token service did not answer") from None


def revoke(app: OAuthApp, refresh_token: str) -> None:
    """Revoke the refresh token (and with it the access tokens it gave); the app
    authenticates with its client id and secret. Raises IdentityCallFailed."""
    try:
        response = app.session().revoke_token(
            app.endpoints.revoke_url, token=refresh_token, timeout=HTTP_TIMEOUT
        )
    except requests.RequestException as error:
        raise _identity_failure(error) from None
    if not response.ok:
        raise IdentityCallFailed(response.status_code)


def delete_connection(app: OAuthApp, access_token: str, connection_id: str) -> None:
    """Disconnect the app from one organisation. Raises IdentityCallFailed (status 404 when
    Xero no longer has the connection)."""
    from xero_python.exceptions import ApiException

    try:
        _identity(app, access_token).delete_connection(connection_id, _request_timeout=HTTP_TIMEOUT)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        raise _identity_failure(error) from None


def access_token(
    db: Session,
    app: OAuthApp,
    box: SecretBox,
    now: datetime | None = None,
    *,
    refused: str | None = None,
) -> tuple[str, str]:
    """A valid access token for the active connection, refreshing it under a row lock.

    Returns (tenant_id, access_token). Commits when it refreshed: the new refresh token
    must be saved before anything else in the caller's transaction can roll it back.
    ``refused``: an access token Xero has just refused before its time (revoked, the app
    disconnected in Xero); while it is still the stored one, refresh at once.
    """
    now = now or utcnow()
    current = active_connection(db)
    if current is None:
        raise NotConnected("Xero is not connected")
    # populate_existing: another worker may have refreshed while we waited for the lock.
    connection = db.scalar(
        select(XeroConnection)
        .where(XeroConnection.id == current.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        raise AuthLost("Xero needs to be connected again")
    expires = connection.access_token_expires_at
    stored = (
        box.decrypt(connection.access_token_encrypted)
        if connection.access_token_encrypted
        else None
    )
    if stored and expires is not None and expires - EARLY_REFRESH > now and stored != refused:
        return connection.tenant_id, stored
    try:
        token = refresh(app, box.decrypt(connection.refresh_token_encrypted or ""))
    except AuthLost as error:
        connection.status = ConnectionStatus.RECONNECT_NEEDED
        connection.last_failure_at = now
        connection.last_failure = str(error)
        db.commit()
        raise
    store_tokens(connection, token, box, now)
    db.commit()
    return connection.tenant_id, token["access_token"]
