"""Settings > Accounting software > Xero: connect (OAuth2 with PKCE), the health of the
connection, and "Remove integration".

The OAuth state and PKCE verifier wait in the session for the callback and are taken out
on first use, so a forged or replayed callback finds nothing to match. When a consent grants
several organisations, the tokens wait (encrypted) in the session while the admin picks one.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import replace
from datetime import datetime

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from wtforms import RadioField
from wtforms.validators import InputRequired

from billing.db import utcnow
from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db, writes_on_get
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)
from portal.views import form_status
from portal.xero_setup import xero_integration
from xero.api import connection as xero_connection_ops
from xero.api.connection import CONSENT_TIMEOUT, Consent, Tenant
from xero.api.errors import NotConnected, XeroError
from xero.api.tokens import OAuthApp, active_connection
from xero.models import ConnectionStatus

PENDING_KEY = "xero_oauth"
CONSENT_KEY = "xero_consent"
#: Only what store_tokens needs: the id_token (a second JWT) would overflow the cookie.
TOKEN_KEYS = ("access_token", "refresh_token", "expires_in", "scope", "token_type")
STATE_REFUSED = (
    "This Xero sign-in was refused: it does not match a connection this portal started, "
    "or it was already used. Nothing was stored. Start again with Connect to Xero."
)


class TenantForm(FlaskForm):
    # The choices are the organisations the consent granted; anything else is refused
    # with a message of our own (see xero_tenant), so the choice check is left off here.
    tenant_id = RadioField(
        "Organisation",
        validators=[InputRequired("Choose an organisation.")],
        choices=[],
        validate_choice=False,
    )


def _oauth() -> OAuthApp:
    oauth = xero_integration().oauth
    if not oauth.redirect_uri:
        oauth = replace(oauth, redirect_uri=url_for("admin.xero_callback", _external=True))
    return oauth


def _now() -> datetime:
    return utcnow()


@bp.get("/xero")
def xero_connection():
    db = get_db()
    connection = xero_connection_ops.latest_connection(db)
    health = xero_connection_ops.health(db, connection, _now()) if connection else None
    return render_template(
        "admin/xero_connection.html",
        connection=connection,
        health=health,
        removed=connection is None or connection.status == ConnectionStatus.REMOVED,
        configured=bool(current_app.config["XERO_CLIENT_ID"]),
        confirm=ConfirmForm(),
    )


@bp.post("/xero/connect")
def xero_connect():
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("admin.xero_connection"))
    if not current_app.config["XERO_CLIENT_ID"]:
        flash(
            "The portal has no Xero app yet: set XERO_CLIENT_ID and XERO_CLIENT_SECRET "
            "(see README, Connecting Xero).",
            "error",
        )
        return redirect(url_for("admin.xero_connection"))
    url, state, verifier = xero_connection_ops.start_consent(_oauth())
    session.pop(CONSENT_KEY, None)
    session[PENDING_KEY] = {"state": state, "verifier": verifier, "at": _now().isoformat()}
    return redirect(url)


def _expired(started: str) -> bool:
    try:
        at = datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return True
    return _now() - at > CONSENT_TIMEOUT


@bp.get("/xero/callback")
@writes_on_get  # stores the connection Xero's sign-in granted
def xero_callback():
    # Taken out at once: a second callback with the same state finds nothing to match.
    pending = session.pop(PENDING_KEY, None)
    state = request.args.get("state", "")
    if (
        not isinstance(pending, dict)
        or not state
        or not hmac.compare_digest(state.encode(), str(pending.get("state", "")).encode())
    ):
        flash(STATE_REFUSED, "error")
        return redirect(url_for("admin.xero_connection"))
    if _expired(pending.get("at", "")):
        flash("The Xero sign-in took too long. Nothing was stored; please start again.", "error")
        return redirect(url_for("admin.xero_connection"))
    if request.args.get("error"):
        reason = request.args["error"]
        text = "you cancelled on Xero's page" if reason == "access_denied" else reason
        flash(f"Xero was not connected ({text}). Nothing was stored.", "error")
        return redirect(url_for("admin.xero_connection"))
    try:
        consent = xero_connection_ops.finish_consent(
            _oauth(), request.url, state=state, verifier=pending["verifier"]
        )
    except XeroError as error:
        flash(f"Xero was not connected: {error}. Nothing was stored.", "error")
        return redirect(url_for("admin.xero_connection"))
    if len(consent.tenants) == 1:
        return _connect(consent, consent.tenants[0])
    _keep_consent(consent)
    return redirect(url_for("admin.xero_tenant"))


def _keep_consent(consent: Consent) -> None:
    box = current_app.extensions["secret_box"]
    data = {
        "token": {k: consent.token[k] for k in TOKEN_KEYS if k in consent.token},
        "tenants": [[t.tenant_id, t.name, t.connection_id] for t in consent.tenants],
        "at": _now().isoformat(),
    }
    session[CONSENT_KEY] = box.encrypt(json.dumps(data))


def _pending_consent() -> Consent | None:
    sealed = session.get(CONSENT_KEY)
    if not isinstance(sealed, str):
        return None
    try:
        data = json.loads(current_app.extensions["secret_box"].decrypt(sealed))
    except ValueError:
        return None
    if _expired(data.get("at", "")):
        return None
    token = dict(data["token"])
    # The access token has aged while the admin chose; its expiry must say so.
    waited = _now() - datetime.fromisoformat(data["at"])
    token["expires_in"] = max(0, int(token.get("expires_in", 1800)) - int(waited.total_seconds()))
    return Consent(token, [Tenant(*t) for t in data["tenants"]])


@bp.route("/xero/organisation", methods=["GET", "POST"])
def xero_tenant():
    consent = _pending_consent()
    if consent is None:
        session.pop(CONSENT_KEY, None)
        flash("No Xero sign-in is waiting for a choice. Start again with Connect to Xero.", "info")
        return redirect(url_for("admin.xero_connection"))
    form = TenantForm()
    form.tenant_id.choices = [(t.tenant_id, t.name) for t in consent.tenants]
    if form.validate_on_submit():
        tenant = consent.tenant(form.tenant_id.data)
        if tenant is not None:
            session.pop(CONSENT_KEY, None)
            return _connect(consent, tenant)
        form.tenant_id.errors.append(
            "That organisation was not granted on Xero's consent page. Nothing was stored."
        )
    return render_template(
        "admin/xero_tenant.html", form=form, tenants=consent.tenants
    ), form_status(form)


def _connect(consent: Consent, tenant: Tenant):
    db = get_db()
    previous = xero_connection_ops.latest_connection(db)
    xero_connection_ops.connect(
        db,
        current_app.extensions["secret_box"],
        consent.token,
        tenant,
        current_user.id,
        _now(),
    )
    flash(f"Connected to Xero organisation {tenant.name}.", "success")
    if previous is not None and previous.tenant_id != tenant.tenant_id:
        flash(
            f"This is not the organisation the portal used before ({previous.tenant_name}). "
            "Invoices already sent stay there; new work goes to "
            f"{tenant.name}.",
            "info",
        )
    return redirect(url_for("admin.xero_connection"))


@bp.route("/xero/remove", methods=["GET", "POST"])
def xero_remove():
    db = get_db()
    connection = active_connection(db)
    if connection is None:
        flash("Xero is not connected.", "info")
        return redirect(url_for("admin.xero_connection"))
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            removed, problems = xero_connection_ops.remove(
                db, _oauth(), current_app.extensions["secret_box"], current_user.id, _now()
            )
        except NotConnected:
            return redirect(url_for("admin.xero_connection"))
        kept = (
            "Invoices, customers and their Xero links are kept, and sync jobs wait until "
            "Xero is connected again."
        )
        if problems:
            flash(
                f"Removed the Xero integration from the portal: its tokens are deleted. {kept} "
                f"But Xero did not confirm everything: {' '.join(problems)} To be sure, "
                f"disconnect the app in Xero too (Settings > Connected apps in "
                f"{removed.tenant_name}).",
                "error",
            )
        else:
            flash(
                f"Removed the Xero integration: {removed.tenant_name} is disconnected. {kept}",
                "success",
            )
        return redirect(url_for("admin.xero_connection"))
    health = xero_connection_ops.health(db, connection, _now())
    return render_template(
        "admin/xero_remove.html", form=form, connection=connection, health=health
    )
