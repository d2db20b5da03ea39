"""Xero's identity endpoints: consent page, token, revocation and connections.

Paths mirror Xero's hosts: login.xero.com/identity/connect/authorize,
identity.xero.com/connect/token and /connect/revocation, api.xero.com/connections.
"""

from __future__ import annotations

import base64
from typing import cast
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from .errors import json_response, not_found, unauthorized
from .gateway import bearer_token
from .oauth import Authorisation, OAuthError
from .sandbox import Sandbox
from .xerojson import dumps

bp = Blueprint("xero_identity", __name__, template_folder="templates")


def _sandbox() -> Sandbox:
    return cast(Sandbox, current_app.extensions["xero_sandbox"])


def _oauth_error(error: OAuthError) -> Response:
    return Response(
        dumps({"error": error.error}), status=error.status, content_type="application/json"
    )


def _client_credentials() -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic auth or the form, as Xero accepts both."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        except (ValueError, UnicodeDecodeError):
            return None, None
    return request.form.get("client_id"), request.form.get("client_secret")


@bp.route("/identity/connect/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    params = request.values
    redirect_uri = params.get("redirect_uri", "")
    try:
        client = _sandbox().identity.client_for_authorize(params.get("client_id", ""), redirect_uri)
    except OAuthError as error:
        # Never redirect to an unverified URI: show the error here, as Xero does.
        return Response(f"Invalid request: {error.error}", status=400, content_type="text/plain")
    if params.get("response_type", "code") != "code":
        return _redirect_back(redirect_uri, error="unsupported_response_type")
    sandbox = _sandbox()
    if request.method == "GET":
        organisations = sorted(sandbox.organisations.values(), key=lambda o: o.name)
        return render_template(
            "sandbox/consent.html",
            client=client,
            organisations=organisations,
            params=params,
        )
    if request.form.get("decision") != "allow":
        return _redirect_back(redirect_uri, error="access_denied", state=params.get("state"))
    tenant_ids = request.form.getlist("tenant") or list(sandbox.organisations)
    try:
        code = sandbox.identity.issue_code(
            client.client_id,
            redirect_uri,
            params.get("scope", ""),
            tenant_ids,
            code_challenge=params.get("code_challenge") or None,
            code_challenge_method=params.get("code_challenge_method") or None,
        )
    except OAuthError as error:
        return _redirect_back(redirect_uri, error=error.error, state=params.get("state"))
    return _redirect_back(
        redirect_uri, code=code, scope=params.get("scope", ""), state=params.get("state")
    )


def _redirect_back(redirect_uri: str, **values: str | None) -> WerkzeugResponse:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{query}", code=302)


@bp.route("/connect/token", methods=["POST"])
def token() -> ResponseReturnValue:
    identity = _sandbox().identity
    client_id, client_secret = _client_credentials()
    grant_type = request.form.get("grant_type")
    try:
        if grant_type == "authorization_code":
            issued = identity.exchange_code(
                request.form.get("code", ""),
                request.form.get("redirect_uri"),
                client_id,
                client_secret,
                request.form.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            issued = identity.refresh(
                request.form.get("refresh_token", ""), client_id, client_secret
            )
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return _oauth_error(error)
    return Response(dumps(issued), content_type="application/json")


@bp.route("/connect/revocation", methods=["POST"])
def revocation() -> ResponseReturnValue:
    client_id, client_secret = _client_credentials()
    try:
        _sandbox().identity.revoke(request.form.get("token", ""), client_id, client_secret)
    except OAuthError as error:
        return _oauth_error(error)
    return Response("", status=200)


def _caller() -> tuple[Authorisation | None, str]:
    authorisation, reason = _sandbox().identity.authorise(bearer_token())
    return authorisation, reason


@bp.route("/connections", methods=["GET"])
@bp.route("/Connections", methods=["GET"])
def connections() -> ResponseReturnValue:
    authorisation, reason = _caller()
    if authorisation is None:
        return unauthorized(reason)
    sandbox = _sandbox()
    wanted_event = request.args.get("authEventId")
    items = []
    for connection in sandbox.identity.connections_for(authorisation.grant):
        if wanted_event and connection.auth_event_id != wanted_event:
            continue
        org = sandbox.organisations.get(connection.tenant_id)
        items.append(
            {
                "id": connection.connection_id,
                "authEventId": connection.auth_event_id,
                "tenantId": connection.tenant_id,
                "tenantType": "ORGANISATION",
                "tenantName": org.name if org else None,
                "createdDateUtc": _iso(connection.created),
                "updatedDateUtc": _iso(connection.updated),
            }
        )
    return json_response(items)


@bp.route("/connections/<connection_id>", methods=["DELETE"])
@bp.route("/Connections/<connection_id>", methods=["DELETE"])
def delete_connection(connection_id: str) -> ResponseReturnValue:
    authorisation, reason = _caller()
    if authorisation is None:
        return unauthorized(reason)
    if not _sandbox().identity.disconnect(authorisation.grant, connection_id):
        return not_found()
    return Response("", status=204)


def _iso(epoch: float) -> str:
    """Xero writes these without a zone (always UTC); the description says RFC 3339
    date-time, which needs one, so the sandbox adds the Z and stays inside the contract."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
