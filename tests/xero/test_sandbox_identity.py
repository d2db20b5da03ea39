"""Identity through xero-python and plain HTTP: tokens, rotation, PKCE, tenants, revocation."""

from __future__ import annotations

import json

import pytest
from xero_python.exceptions import ApiException

from .conftest import (
    REDIRECT_URI,
    TIMEOUT,
    authorize,
    connect_through_oauth,
    make_client,
    pkce_pair,
    token_request,
)


def _status(exc: ApiException) -> tuple[int, dict]:
    return exc.status, json.loads(exc.body)


def test_connections_list_the_granted_organisations(accounting_api, sandbox):
    connections = accounting_api.identity.get_connections(_request_timeout=TIMEOUT)
    assert [(c.tenant_id, c.tenant_name, c.tenant_type) for c in connections] == [
        (sandbox.org.tenant_id, "Coworking Ltd", "ORGANISATION")
    ]


def test_one_consent_can_grant_several_organisations(sandbox, token_urls):
    second = sandbox.sandbox.add_organisation("Coworking Pty", country="AU")
    client_id, secret, token = connect_through_oauth(sandbox)
    api_client = make_client(sandbox, client_id, secret, token)
    from xero_python.accounting import AccountingApi
    from xero_python.identity import IdentityApi

    tenants = {
        c.tenant_id
        for c in IdentityApi(api_client, base_url=sandbox.url).get_connections(
            _request_timeout=TIMEOUT
        )
    }
    assert tenants == {sandbox.org.tenant_id, second.tenant_id}
    api = AccountingApi(api_client, base_url=sandbox.accounting_url)
    rates = api.get_tax_rates(second.tenant_id, _request_timeout=TIMEOUT).tax_rates
    assert {r.tax_type for r in rates} >= {"OUTPUT", "EXEMPTOUTPUT", "BASEXCLUDED"}


def test_refresh_tokens_rotate_and_a_used_one_is_refused_after_30_minutes(accounting_api, sandbox):
    api_client = accounting_api.api_client
    old_refresh = api_client.token_store["token"]["refresh_token"]
    old_access = api_client.token_store["token"]["access_token"]
    new_token = api_client.refresh_oauth2_token()
    assert new_token["refresh_token"] != old_refresh
    assert new_token["access_token"] != old_access
    accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)

    # Xero's grace period: within 30 minutes the used token may be retried (its answer was
    # perhaps lost) and gets the same new pair again.
    sandbox.sandbox.advance_clock(29 * 60)
    api_client.token_store["token"]["refresh_token"] = old_refresh
    again = api_client.refresh_oauth2_token()
    assert (again["access_token"], again["refresh_token"]) == (
        new_token["access_token"],
        new_token["refresh_token"],
    )

    # After that a use of the old refresh token (say, a worker that lost the race) is refused.
    sandbox.sandbox.advance_clock(61)
    api_client.token_store["token"]["refresh_token"] = old_refresh
    with pytest.raises(ApiException) as caught:
        api_client.refresh_oauth2_token()
    assert _status(caught.value) == (400, {"error": "invalid_grant"})


def test_access_tokens_expire_after_30_minutes(accounting_api, sandbox):
    sandbox.sandbox.advance_clock(29 * 60)
    accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)
    sandbox.sandbox.advance_clock(61)
    with pytest.raises(ApiException) as caught:
        accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)
    status, body = _status(caught.value)
    assert status == 401 and body["Title"] == "Unauthorized"
    assert body["Detail"].startswith("TokenExpired")
    # The refresh token still works, and the new access token does.
    accounting_api.api_client.refresh_oauth2_token()
    accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)


def test_missing_token_is_401_and_ungranted_tenant_is_403(accounting_api, sandbox):
    other = sandbox.sandbox.add_organisation("Not Granted Ltd")
    with pytest.raises(ApiException) as caught:
        accounting_api.api.get_organisations(other.tenant_id, _request_timeout=TIMEOUT)
    status, body = _status(caught.value)
    assert (status, body["Title"], body["Detail"]) == (
        403,
        "Forbidden",
        "AuthenticationUnsuccessful",
    )

    accounting_api.api_client.token_store["token"]["access_token"] = "not-a-token"
    with pytest.raises(ApiException) as caught:
        accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)
    assert caught.value.status == 401


def test_pkce_verifier_is_checked(sandbox):
    client = sandbox.sandbox.register_client(client_secret=None, redirect_uris=[REDIRECT_URI])
    verifier, challenge = pkce_pair()
    code = authorize(sandbox, client.client_id, code_challenge=challenge)["code"]
    wrong = token_request(
        sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id,
            "code_verifier": verifier + "x",
        },
    )
    assert (wrong.status, wrong.json()) == (400, {"error": "invalid_grant"})

    code = authorize(sandbox, client.client_id, code_challenge=challenge)["code"]
    right = token_request(
        sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id,
            "code_verifier": verifier,
        },
    )
    assert right.status == 200
    assert right.json()["expires_in"] == 1800 and right.json()["token_type"] == "Bearer"
    # A code is good once.
    again = token_request(
        sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id,
            "code_verifier": verifier,
        },
    )
    assert again.json() == {"error": "invalid_grant"}


def test_code_exchange_needs_the_client_secret(sandbox):
    client = sandbox.sandbox.register_client(redirect_uris=[REDIRECT_URI])
    code = authorize(sandbox, client.client_id)["code"]
    answer = token_request(
        sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id,
            "client_secret": "wrong",
        },
    )
    assert (answer.status, answer.json()) == (400, {"error": "invalid_client"})


def test_revoking_ends_the_grant(accounting_api):
    accounting_api.api_client.revoke_oauth2_token()
    with pytest.raises(ApiException) as caught:
        accounting_api.identity.get_connections(_request_timeout=TIMEOUT)
    assert caught.value.status == 401


def test_deleting_the_connection_removes_access_to_that_tenant(accounting_api):
    [connection] = accounting_api.identity.get_connections(_request_timeout=TIMEOUT)
    accounting_api.identity.delete_connection(connection.id, _request_timeout=TIMEOUT)
    assert accounting_api.identity.get_connections(_request_timeout=TIMEOUT) == []
    with pytest.raises(ApiException) as caught:
        accounting_api.api.get_organisations(accounting_api.tenant_id, _request_timeout=TIMEOUT)
    assert caught.value.status == 403
