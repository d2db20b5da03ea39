"""Settings > Accounting software > Xero: connecting through the sandbox's real consent page,
the organisation picker, refused callbacks, the health panel and "Remove integration"."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.db import utcnow
from tests.xero.conftest import http
from xero.models import (
    AuditEntry,
    ConnectionStatus,
    JobKind,
    JobStatus,
    SyncAttempt,
    SyncJob,
    XeroConnection,
)
from xero.sync import outbox
from xero_sandbox.oauth import DEFAULT_USER

CLIENT_ID = "PORTALTESTCLIENT"
CLIENT_SECRET = "portal-test-client-secret"
#: The test client's host; the portal builds its redirect URI from the request.
CALLBACK = "http://localhost/admin/xero/callback"

ROUTES = [
    ("GET", "/admin/xero"),
    ("POST", "/admin/xero/connect"),
    ("GET", "/admin/xero/callback"),
    ("GET", "/admin/xero/organisation"),
    ("POST", "/admin/xero/organisation"),
    ("GET", "/admin/xero/remove"),
    ("POST", "/admin/xero/remove"),
    ("GET", "/admin/xero/settings"),
    ("POST", "/admin/xero/settings"),
]


# -- wiring -----------------------------------------------------------------------------------


@pytest.fixture
def app_settings(sandbox):
    sandbox.sandbox.register_client(
        CLIENT_ID, CLIENT_SECRET, redirect_uris=[CALLBACK], name="Members portal"
    )
    return {
        "XERO_BASE_URL": sandbox.url,
        "XERO_CLIENT_ID": CLIENT_ID,
        "XERO_CLIENT_SECRET": CLIENT_SECRET,
    }


@pytest.fixture(autouse=True)
def xero_wiring(app, db, sandbox):
    """The rate limiter runs its own short transactions. The test app shares one session
    (``db``), which the limiter would close under the request, so it gets a session of its
    own on the test's connection; and every request the sandbox saw must be one Xero's
    OpenAPI description allows."""
    service = app.extensions["xero"]
    app.extensions["xero"] = replace(
        service,
        session_factory=lambda: Session(
            bind=db.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
        ),
        timeout=(2, 5),
    )
    yield
    assert not sandbox.sandbox.contract_violations, sandbox.sandbox.contract_violations


# -- helpers ----------------------------------------------------------------------------------


def start(client) -> str:
    """Press Connect to Xero; returns the authorize URL the portal redirected to."""
    response = client.post_form("/admin/xero/connect")
    assert response.status_code == 302, response.data
    return response.headers["Location"]


def consent(authorize_url: str, tenant_ids: list[str] | None = None, decision="allow") -> str:
    """Answer the sandbox's consent page as a person would; returns the callback URL."""
    pool = http()
    page = pool.request("GET", authorize_url)
    assert page.status == 200, page.data
    text = page.data.decode()
    hidden = [
        (name, html.unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', text)
    ]
    offered = re.findall(r'name="tenant" value="([^"]+)"', text)
    form = hidden + [("decision", decision)]
    form += [("tenant", t) for t in (offered if tenant_ids is None else tenant_ids)]
    answer = pool.request(
        "POST",
        authorize_url.split("?")[0],
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        redirect=False,
    )
    assert answer.status == 302, answer.data
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return location


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def connect(client, tenant_ids=None):
    """The whole flow for one organisation; returns the callback response."""
    callback = consent(start(client), tenant_ids)
    return client.get(local(callback))


def connections(db) -> list[XeroConnection]:
    return list(db.scalars(select(XeroConnection).order_by(XeroConnection.id)))


def flashes(client) -> list[str]:
    """The messages flashed since the last call (they are taken out, as a page would)."""
    with client.session_transaction() as session:
        return [message for _category, message in session.pop("_flashes", [])]


# -- connecting -------------------------------------------------------------------------------


def test_not_connected_page_offers_connect_button(admin_client):
    page = admin_client.get("/admin/xero")
    assert page.status_code == 200
    assert b"Not connected" in page.data
    assert b"Connect to Xero" in page.data
    assert b'action="/admin/xero/connect"' in page.data
    assert b'name="csrf_token"' in page.data


def test_connect_without_csrf_token_is_refused(admin_client, db):
    response = admin_client.post("/admin/xero/connect")
    assert response.status_code == 400
    assert connections(db) == []


def test_connect_starts_authorization_code_flow_with_pkce(admin_client, sandbox):
    url = start(admin_client)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{sandbox.url}/identity/connect/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert "offline_access" in query["scope"].split()
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43
    with admin_client.session_transaction() as session:
        pending = session["xero_oauth"]
    assert pending["state"] == query["state"]
    # The verifier never leaves the portal; only its challenge does.
    assert pending["verifier"] not in url


def test_full_connect_flow_stores_encrypted_tokens(
    app,
    admin_client,
    admin,
    db,
    sandbox,
):
    response = connect(admin_client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/xero"
    assert flashes(admin_client) == ["Connected to Xero organisation Coworking Ltd."]

    [connection] = connections(db)
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.tenant_id == sandbox.org.tenant_id
    assert connection.tenant_name == "Coworking Ltd"
    assert connection.connected_by_id == admin.id
    assert connection.connection_id
    assert "offline_access" in connection.scopes
    box = app.extensions["secret_box"]
    identity = sandbox.sandbox.identity
    access = box.decrypt(connection.access_token_encrypted)
    refresh = box.decrypt(connection.refresh_token_encrypted)
    assert access in identity.access_tokens
    assert refresh in identity.refresh_tokens
    assert access not in connection.access_token_encrypted
    assert refresh not in connection.refresh_token_encrypted
    assert connection.access_token_expires_at > utcnow() + timedelta(minutes=25)
    # The sandbox knows the connection under the id the portal keeps for removal.
    granted = identity.connections[(CLIENT_ID, DEFAULT_USER)]
    assert [c.connection_id for c in granted] == [connection.connection_id]

    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "xero.connect"))
    assert entry.user_id == admin.id
    assert "Coworking Ltd" in entry.detail

    page = admin_client.get("/admin/xero").data.decode()
    assert "Coworking Ltd" in page
    assert admin.name in page
    assert "Connected" in page
    # The session keeps nothing of the finished sign-in.
    with admin_client.session_transaction() as session:
        assert "xero_oauth" not in session
        assert "xero_consent" not in session


def test_tenant_picker_with_two_organisations(admin_client, admin, db, sandbox):
    second = sandbox.sandbox.add_organisation("Second Space Pty", country="AU")
    response = connect(admin_client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/xero/organisation"
    assert connections(db) == []
    with admin_client.session_transaction() as session:
        sealed = session["xero_consent"]
    # The waiting tokens are encrypted in the session cookie, never readable there.
    for token in sandbox.sandbox.identity.refresh_tokens:
        assert token not in sealed

    page = admin_client.get("/admin/xero/organisation")
    assert page.status_code == 200
    assert b"Coworking Ltd" in page.data
    assert b"Second Space Pty" in page.data

    chosen = admin_client.post_form("/admin/xero/organisation", {"tenant_id": second.tenant_id})
    assert chosen.status_code == 302
    [connection] = connections(db)
    assert connection.tenant_id == second.tenant_id
    assert connection.tenant_name == "Second Space Pty"
    assert connection.connected_by_id == admin.id
    # The picker is single use.
    again = admin_client.get("/admin/xero/organisation")
    assert again.status_code == 302


def test_tenant_not_granted_is_refused(admin_client, db, sandbox):
    second = sandbox.sandbox.add_organisation("Second Space Pty", country="AU")
    third = sandbox.sandbox.add_organisation("Not Granted Ltd", country="GB")
    granted = [sandbox.org.tenant_id, second.tenant_id]
    response = connect(admin_client, tenant_ids=granted)
    assert response.headers["Location"] == "/admin/xero/organisation"
    page = admin_client.get("/admin/xero/organisation")
    assert b"Not Granted Ltd" not in page.data

    for tenant_id in (third.tenant_id, "not-a-tenant", ""):
        refused = admin_client.post_form("/admin/xero/organisation", {"tenant_id": tenant_id})
        assert refused.status_code == 422, tenant_id
        assert connections(db) == []
    assert (
        b"was not granted on Xero&#39;s consent page"
        in admin_client.post_form("/admin/xero/organisation", {"tenant_id": third.tenant_id}).data
    )
    # A refused choice does not spend the consent: a granted one still connects.
    ok = admin_client.post_form("/admin/xero/organisation", {"tenant_id": second.tenant_id})
    assert ok.status_code == 302
    assert [c.tenant_id for c in connections(db)] == [second.tenant_id]


def test_forged_state_is_refused(admin_client, db):
    callback = consent(start(admin_client))
    forged = re.sub(r"state=[^&]+", "state=forged-by-someone", callback)
    response = admin_client.get(local(forged))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/xero"
    [message] = flashes(admin_client)
    assert "refused" in message and "Nothing was stored" in message
    assert connections(db) == []


def test_callback_without_a_started_sign_in_is_refused(admin_client, db):
    response = admin_client.get("/admin/xero/callback?code=abc&state=xyz")
    assert response.status_code == 302
    assert any("refused" in m for m in flashes(admin_client))
    assert connections(db) == []


def test_reused_state_is_refused(admin_client, db):
    callback = consent(start(admin_client))
    assert admin_client.get(local(callback)).status_code == 302
    assert len(connections(db)) == 1
    flashes(admin_client)  # the first round's message

    replay = admin_client.get(local(callback))
    assert replay.status_code == 302
    assert any("already used" in m for m in flashes(admin_client))
    assert len(connections(db)) == 1


def test_cancelling_on_xeros_page_stores_nothing(admin_client, db):
    callback = consent(start(admin_client), decision="deny")
    assert "error=access_denied" in callback
    response = admin_client.get(local(callback))
    assert response.status_code == 302
    assert any("cancelled" in m for m in flashes(admin_client))
    assert connections(db) == []


def test_code_exchange_failure_stores_nothing(admin_client, db, sandbox):
    callback = consent(start(admin_client))
    sandbox.sandbox.faults.add("status", 1, method="POST", path="/connect/token", status=503)
    response = admin_client.get(local(callback))
    assert response.status_code == 302
    assert any("Xero was not connected" in m for m in flashes(admin_client))
    assert connections(db) == []


# -- health -----------------------------------------------------------------------------------


def test_health_panel(admin_client, db):
    connect(admin_client)
    [connection] = connections(db)
    now = utcnow()
    connection.last_success_at = now - timedelta(minutes=3)
    connection.last_failure_at = now - timedelta(hours=2)
    connection.last_failure = "Xero answered 503"
    job = SyncJob(kind=JobKind.INVOICE, object_id=42, idempotency_key="k-1")
    db.add(job)
    db.add(SyncAttempt(job=job, outcome="retry", message="Xero did not answer (ReadTimeout)"))
    db.flush()

    page = admin_client.get("/admin/xero").data.decode()
    assert 'data-testid="xero-health"' in page
    assert "Coworking Ltd" in page
    assert "valid until" in page
    assert now.strftime("%d %b %Y") in page
    assert "Xero answered 503" in page
    assert "Xero did not answer (ReadTimeout)" in page
    assert "invoice #42" in page
    assert "1 waiting" in page
    assert "renewed 0 days ago" in page
    assert 'data-testid="refresh-warning"' not in page
    assert 'data-testid="reconnect-needed"' not in page
    assert "Remove integration" in page


def test_refresh_token_age_warning_after_45_days(admin_client, db):
    connect(admin_client)
    [connection] = connections(db)
    connection.refresh_token_issued_at = utcnow() - timedelta(days=44)
    db.flush()
    assert b'data-testid="refresh-warning"' not in admin_client.get("/admin/xero").data

    [connection] = connections(db)  # the request closed the session: load it again
    connection.refresh_token_issued_at = utcnow() - timedelta(days=50)
    db.flush()
    page = admin_client.get("/admin/xero").data.decode()
    assert 'data-testid="refresh-warning"' in page
    assert "renewed 50 days ago" in page
    assert "10 days left" in page


def test_reconnect_needed_is_prominent_with_reconnect_button(admin_client, db):
    connect(admin_client)
    [connection] = connections(db)
    connection.status = ConnectionStatus.RECONNECT_NEEDED
    connection.last_failure = "Xero refused the refresh token (invalid_grant)"
    db.flush()
    page = admin_client.get("/admin/xero").data.decode()
    assert 'data-testid="reconnect-needed"' in page
    assert "Reconnect needed" in page
    assert "invalid_grant" in page
    assert "Reconnect to Xero" in page
    # The settings page cannot be read meanwhile.
    assert admin_client.get("/admin/xero/settings").headers["Location"] == "/admin/xero"

    # Reconnecting replaces the lost connection with a working one.
    response = connect(admin_client)
    assert response.status_code == 302
    old, new = connections(db)
    assert old.status == ConnectionStatus.REMOVED and old.refresh_token_encrypted is None
    assert new.status == ConnectionStatus.ACTIVE
    assert b'data-testid="reconnect-needed"' not in admin_client.get("/admin/xero").data


# -- removing ---------------------------------------------------------------------------------


def pending_job(db) -> SyncJob:
    job = outbox.enqueue(db, JobKind.CONTACT, 7)
    db.flush()
    return job


def test_remove_integration(app, admin_client, admin, db, sandbox):
    connect(admin_client)
    [connection] = connections(db)
    box = app.extensions["secret_box"]
    refresh = box.decrypt(connection.refresh_token_encrypted)
    job = pending_job(db)

    confirm = admin_client.get("/admin/xero/remove")
    assert confirm.status_code == 200
    assert b"Remove the Xero integration?" in confirm.data
    assert b"Coworking Ltd" in confirm.data
    assert b"1 sync job waiting" in confirm.data
    assert connections(db)[0].status == ConnectionStatus.ACTIVE  # a GET changes nothing

    response = admin_client.post_form("/admin/xero/remove")
    assert response.status_code == 302
    [message] = flashes(admin_client)
    assert "Removed the Xero integration" in message
    assert "kept" in message

    db.expire_all()
    [connection] = connections(db)
    assert connection.status == ConnectionStatus.REMOVED
    assert connection.access_token_encrypted is None
    assert connection.refresh_token_encrypted is None
    assert connection.access_token_expires_at is None
    assert db.get(SyncJob, job.id).status == JobStatus.PENDING
    identity = sandbox.sandbox.identity
    assert identity.connections.get((CLIENT_ID, DEFAULT_USER), []) == []
    assert identity.grants[identity.refresh_tokens[refresh].grant_id].revoked
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "xero.remove"))
    assert entry.user_id == admin.id

    page = admin_client.get("/admin/xero").data.decode()
    assert "Not connected" in page
    assert "1 sync job</strong> wait" in page
    assert "Connect to Xero" in page
    assert admin_client.get("/admin/xero/remove").status_code == 302
    assert admin_client.get("/admin/xero/settings").status_code == 302


def test_remove_needs_the_confirmation_post(admin_client, db):
    connect(admin_client)
    response = admin_client.post("/admin/xero/remove")  # no CSRF token
    assert response.status_code == 400
    assert connections(db)[0].status == ConnectionStatus.ACTIVE


def test_remove_when_xero_fails_still_removes_locally(admin_client, db, sandbox):
    connect(admin_client)
    job = pending_job(db)
    sandbox.sandbox.faults.add("status", 1, method="DELETE", path="/[Cc]onnections/*", status=503)
    sandbox.sandbox.faults.add("status", 1, method="POST", path="/connect/revocation", status=500)

    flashes(admin_client)
    response = admin_client.post_form("/admin/xero/remove")
    assert response.status_code == 302
    [message] = flashes(admin_client)
    assert "Removed the Xero integration from the portal" in message
    assert "Xero did not delete the connection: it answered 503" in message
    assert "Xero did not revoke the refresh token: it answered 500" in message
    assert "Connected apps" in message
    db.expire_all()
    [connection] = connections(db)
    assert connection.status == ConnectionStatus.REMOVED
    assert connection.refresh_token_encrypted is None
    assert db.get(SyncJob, job.id).status == JobStatus.PENDING
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "xero.remove"))
    assert "503" in entry.detail


def test_remove_with_an_expired_access_token_refreshes_first(
    admin_client,
    db,
    sandbox,
):
    connect(admin_client)
    [connection] = connections(db)
    connection.access_token_expires_at = utcnow() - timedelta(minutes=1)
    db.flush()
    sandbox.sandbox.advance_clock(31 * 60)
    response = admin_client.post_form("/admin/xero/remove")
    assert response.status_code == 302
    assert any(m.startswith("Removed the Xero integration:") for m in flashes(admin_client))
    assert sandbox.sandbox.identity.connections.get((CLIENT_ID, DEFAULT_USER), []) == []


def test_reconnect_after_removal_resumes_jobs(admin_client, db):
    connect(admin_client)
    job = pending_job(db)
    admin_client.post_form("/admin/xero/remove")
    response = connect(admin_client)
    assert response.status_code == 302
    db.expire_all()
    removed, active = connections(db)
    assert removed.status == ConnectionStatus.REMOVED
    assert active.status == ConnectionStatus.ACTIVE
    # The worker follows the newest connection: active again, so the job is claimed.
    newest = db.scalar(select(XeroConnection.status).order_by(XeroConnection.id.desc()).limit(1))
    assert newest == ConnectionStatus.ACTIVE
    assert db.get(SyncJob, job.id).status == JobStatus.PENDING
    assert b"Coworking Ltd" in admin_client.get("/admin/xero").data


# -- who may use these pages ------------------------------------------------------------------


def _request(client, method, url, csrf=True):
    if method == "GET":
        return client.get(url)
    return client.post_form(url) if csrf else client.post(url)


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_members_get_403(member_client, method, url):
    assert _request(member_client, method, url).status_code == 403


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_anonymous_is_sent_to_sign_in(client, method, url):
    response = _request(client, method, url)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
