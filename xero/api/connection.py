"""Connecting the portal to one Xero organisation, watching that connection, and removing it.

Connecting: the admin consents in Xero (authorization code with PKCE), the portal trades
the code for tokens, lists the organisations the consent granted and keeps one. Removing:
Xero is asked to forget the app (DELETE /connections/{id}, then the refresh token is
revoked), and whatever Xero answers, the portal forgets the tokens. Local invoices, links
and sync jobs stay; the worker pauses while no connection is active and resumes on the
next connect.

These operations flush and never commit; the request that calls them commits once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.common.errors import AuthlibBaseError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from billing.encryption import SecretBox
from xero.api import tokens
from xero.api.current_connection import latest_connection as latest_connection
from xero.api.endpoints import NEEDED_SCOPES
from xero.api.errors import AuthLost, IdentityCallFailed, NotConnected, Retryable, XeroError
from xero.api.tokens import OAuthApp
from xero.models import (
    AuditEntry,
    ConnectionStatus,
    JobStatus,
    SyncAttempt,
    SyncJob,
    XeroConnection,
)

#: Xero refresh tokens die 60 days after issue unless used; warn well before.
REFRESH_TOKEN_WARNING_AGE = timedelta(days=45)
#: An unanswered consent (the admin wandered off) is not accepted after this long.
CONSENT_TIMEOUT = timedelta(minutes=15)
FAILED_OUTCOMES = ("retry", "failed", "rate_limited", "unknown")


@dataclass(frozen=True)
class Tenant:
    """An organisation a consent granted, as Xero's /connections lists it."""

    tenant_id: str
    name: str
    connection_id: str


@dataclass
class Consent:
    token: dict[str, Any]
    tenants: list[Tenant]

    def tenant(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.tenant_id == tenant_id), None)


def start_consent(oauth: OAuthApp) -> tuple[str, str, str]:
    """(URL to send the admin to, state, PKCE verifier): keep the last two for the callback."""
    return tokens.authorization_request(oauth)


def finish_consent(oauth: OAuthApp, callback_url: str, *, state: str, verifier: str) -> Consent:
    """Trade the callback's code for tokens and list the organisations granted."""
    try:
        token = tokens.exchange_code(oauth, callback_url, state=state, verifier=verifier)
    except AuthlibBaseError as error:  # a malformed callback (no code, bad state)
        raise AuthLost(f"Xero's answer could not be used ({error.error})") from None
    if not token.get("refresh_token"):
        raise AuthLost(
            "Xero gave no refresh token (the offline_access scope was not granted), so the "
            "portal could not keep syncing."
        )
    try:
        granted = tokens.list_connections(oauth, token["access_token"])
    except IdentityCallFailed:
        raise Retryable("Xero did not list the organisations you connected") from None
    tenants = [
        Tenant(t.tenant_id, t.tenant_name or t.tenant_id, t.connection_id)
        for t in granted
        if t.tenant_id
    ]
    if not tenants:
        raise AuthLost("No Xero organisation was connected: choose one on Xero's consent page.")
    return Consent(token, tenants)


def connect(
    db: Session,
    box: SecretBox,
    token: dict[str, Any],
    tenant: Tenant,
    user_id: int | None,
    now: datetime,
) -> XeroConnection:
    """Keep ``tenant`` as the portal's organisation; an earlier connection is retired.

    The new row is the newest, which is the one the worker looks at, so jobs waiting
    since a removal or a lost connection resume.
    """
    previous = tokens.active_connection(db)
    for old in db.scalars(
        select(XeroConnection).where(XeroConnection.status != ConnectionStatus.REMOVED)
    ):
        old.status = ConnectionStatus.REMOVED
        _forget_tokens(old)
    connection = XeroConnection(
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.name[:255],
        connection_id=tenant.connection_id or None,
        status=ConnectionStatus.ACTIVE,
        connected_by_id=user_id,
        connected_at=now,
        last_success_at=now,
        last_failure="",
    )
    tokens.store_tokens(connection, token, box, now)
    db.add(connection)
    # Jobs that were waiting for a connection go now, not when their wait runs out.
    db.execute(
        update(SyncJob)
        .where(SyncJob.status == JobStatus.PENDING, SyncJob.next_attempt_at > now)
        .values(next_attempt_at=now)
    )
    detail = f"Connected to {tenant.name} ({tenant.tenant_id})."
    if previous is not None and previous.tenant_id != tenant.tenant_id:
        detail += f" Replaces {previous.tenant_name} ({previous.tenant_id})."
    db.add(
        AuditEntry(
            at=now, user_id=user_id, action="xero.connect", subject=_subject(tenant), detail=detail
        )
    )
    db.flush()
    return connection


def _subject(tenant: Tenant | XeroConnection) -> str:
    return f"xero:{tenant.tenant_id}"[:100]


def _forget_tokens(connection: XeroConnection) -> None:
    connection.access_token_encrypted = None
    connection.refresh_token_encrypted = None
    connection.access_token_expires_at = None
    connection.refresh_token_issued_at = None


def remove(
    db: Session,
    oauth: OAuthApp,
    box: SecretBox,
    user_id: int | None,
    now: datetime,
) -> tuple[XeroConnection, list[str]]:
    """Disconnect in Xero as far as Xero lets us, and locally in any case.

    Returns the connection and what Xero refused or did not answer: those problems are
    reported, but the portal has forgotten the tokens either way, so it is never left half
    connected. Local invoices, links and sync jobs are kept.
    """
    current = tokens.active_connection(db)
    if current is None:
        raise NotConnected("Xero is not connected")
    # The row lock keeps a worker from refreshing (and rotating) the tokens meanwhile.
    connection = db.scalars(
        select(XeroConnection)
        .where(XeroConnection.id == current.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    problems: list[str] = []
    access, refresh = _decrypt(box, connection)
    expires = connection.access_token_expires_at
    if refresh and (access is None or expires is None or expires - tokens.EARLY_REFRESH <= now):
        try:
            token = tokens.refresh(oauth, refresh)
            access, refresh = token["access_token"], token.get("refresh_token", refresh)
        except XeroError as error:
            access = None
            problems.append(f"Xero refused a fresh access token: {error}.")
    if access and connection.connection_id:
        try:
            tokens.delete_connection(oauth, access, connection.connection_id)
        except IdentityCallFailed as error:
            if error.status != 404:
                problems.append(f"Xero did not delete the connection: {error}.")
    if refresh:
        try:
            tokens.revoke(oauth, refresh)
        except IdentityCallFailed as error:
            problems.append(f"Xero did not revoke the refresh token: {error}.")
    connection.status = ConnectionStatus.REMOVED
    _forget_tokens(connection)
    detail = f"Removed {connection.tenant_name} ({connection.tenant_id}); local data kept."
    if problems:
        detail += " Xero: " + " ".join(problems)
    db.add(
        AuditEntry(
            at=now,
            user_id=user_id,
            action="xero.remove",
            subject=_subject(connection),
            detail=detail,
        )
    )
    db.flush()
    return connection, problems


def _decrypt(box: SecretBox, connection: XeroConnection) -> tuple[str | None, str | None]:
    def opened(value: str | None) -> str | None:
        if not value:
            return None
        try:
            return box.decrypt(value)
        except ValueError:  # encrypted with another key: unusable, but removal goes on
            return None

    return opened(connection.access_token_encrypted), opened(connection.refresh_token_encrypted)


# -- health ----------------------------------------------------------------------------------


@dataclass
class Health:
    connection: XeroConnection
    now: datetime
    pending_jobs: int = 0
    needs_attention: int = 0
    recent_failures: list[SyncAttempt] = field(default_factory=list)

    @property
    def reconnect_needed(self) -> bool:
        return self.connection.status == ConnectionStatus.RECONNECT_NEEDED

    @property
    def missing_scopes(self) -> dict[str, str]:
        """Scopes the portal needs that this connection was not granted (it was made before
        the portal asked for them): scope -> what it is needed for."""
        granted = set((self.connection.scopes or "").split())
        return {s: why for s, why in NEEDED_SCOPES.items() if s not in granted}

    @property
    def access_token_expired(self) -> bool:
        expires = self.connection.access_token_expires_at
        return expires is None or expires <= self.now

    @property
    def refresh_token_age(self) -> timedelta | None:
        issued = self.connection.refresh_token_issued_at
        return self.now - issued if issued else None

    @property
    def refresh_token_expires_at(self) -> datetime | None:
        issued = self.connection.refresh_token_issued_at
        return issued + tokens.REFRESH_TOKEN_LIFETIME if issued else None

    @property
    def refresh_token_warning(self) -> str:
        age = self.refresh_token_age
        if age is None or self.reconnect_needed:
            return ""
        if age >= tokens.REFRESH_TOKEN_LIFETIME:
            return (
                f"The refresh token was last renewed {age.days} days ago; Xero lets it "
                "expire after 60 days. Reconnect to Xero."
            )
        if age >= REFRESH_TOKEN_WARNING_AGE:
            left = -(-(tokens.REFRESH_TOKEN_LIFETIME - age) // timedelta(days=1))  # rounded up
            return (
                f"The refresh token was last renewed {age.days} days ago and Xero lets it "
                f"expire after 60 days ({left} days left). Any call to Xero renews it: open "
                "the Xero settings page, or reconnect."
            )
        return ""


def health(db: Session, connection: XeroConnection, now: datetime, limit: int = 5) -> Health:
    counts = dict(
        db.execute(
            select(SyncJob.status, func.count())
            .where(SyncJob.status.in_((JobStatus.PENDING, JobStatus.NEEDS_ATTENTION)))
            .group_by(SyncJob.status)
        ).all()
    )
    failures = list(
        db.scalars(
            select(SyncAttempt)
            .where(SyncAttempt.outcome.in_(FAILED_OUTCOMES))
            .order_by(SyncAttempt.at.desc(), SyncAttempt.id.desc())
            .limit(limit)
        )
    )
    return Health(
        connection,
        now,
        pending_jobs=counts.get(JobStatus.PENDING, 0),
        needs_attention=counts.get(JobStatus.NEEDS_ATTENTION, 0),
        recent_failures=failures,
    )


def record_success(connection: XeroConnection, now: datetime) -> None:
    connection.last_success_at = now


def record_failure(connection: XeroConnection, error: XeroError, now: datetime) -> None:
    connection.last_failure_at = now
    connection.last_failure = str(error)
