"""Fixtures for the Xero tests: a served sandbox, a connected xero-python client, the portal's
own database wired to the sandbox (``env``) and the portal served to receive its webhooks.

Every test that uses ``sandbox`` runs with contract checking on and fails if the sandbox
received or sent anything Xero's OpenAPI description does not allow. A test that provokes a
violation on purpose asserts it and then clears ``sandbox.contract_violations``.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import urllib3
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.identity import IdentityApi

from tests.conftest import make_test_app
from tests.xero.sync_env import SyncEnv
from xero_sandbox import Sandbox, create_sandbox_app, s256_challenge, serve_in_thread
from xero_sandbox.contract import default_spec_dir
from xero_sandbox.ratelimit import RateLimitSettings
from xero_sandbox.state import Organisation

#: Every SDK call in these tests passes this, as production code must (no default timeout).
TIMEOUT = (2, 5)
SCOPE = (
    "offline_access accounting.transactions accounting.contacts accounting.settings paymentservices"
)
REDIRECT_URI = "http://127.0.0.1/xero/callback"
#: The keys OAuth2Token.update_token accepts; anything else makes the SDK fail.
TOKEN_KEYS = (
    "access_token",
    "refresh_token",
    "scope",
    "expires_in",
    "token_type",
    "expires_at",
    "id_token",
)


@dataclass
class ServedSandbox:
    sandbox: Sandbox
    url: str
    org: Organisation

    @property
    def accounting_url(self) -> str:
        return f"{self.url}/api.xro/2.0"


@dataclass
class Connected:
    """A configured xero-python client, as the portal's adapter will build one."""

    api: AccountingApi
    identity: IdentityApi
    api_client: ApiClient
    tenant_id: str
    client_id: str
    client_secret: str | None
    token: dict


@pytest.fixture
def sandbox(request):
    """A fresh sandbox served on a random loopback port, contract checking on.

    Rate limits are off; tests of the limits turn them on.
    """
    fail_in_ci_without_openapi()  # elsewhere the sandbox runs unchecked, as it says on stderr
    sandbox = Sandbox(validate_contract=True, rate_limits=RateLimitSettings(enabled=False))
    org = sandbox.add_organisation("Coworking Ltd", country="GB")
    url, stop = serve_in_thread(create_sandbox_app(sandbox))
    served = ServedSandbox(sandbox, url, org)
    yield served
    stop()


@pytest.fixture
def env_class() -> type[SyncEnv]:
    """What ``env`` builds: a module of payment tests overrides this with PaymentEnv."""
    return SyncEnv


@pytest.fixture
def env(env_class, sandbox, fresh_database_url):
    """A portal database of its own, connected to the served sandbox (tests.xero.sync_env)."""
    env = env_class(sandbox, fresh_database_url(env_class.__name__.lower()))
    yield env
    env.close()


#: The key the sandbox signs its webhooks with and the portal of ``portal_webhooks`` checks.
WEBHOOK_KEY = "sandbox-webhook-key-for-tests"


@pytest.fixture
def portal_webhooks(env):
    """The portal served over the env's database, the sandbox's webhooks subscribed to its
    POST /webhooks/xero and signed with the key it checks, as in production."""
    app = make_test_app(env.database_url, XERO_WEBHOOK_KEY=WEBHOOK_KEY)
    url, stop = serve_in_thread(app)
    env.sandbox.webhook_url = f"{url}/webhooks/xero"
    env.sandbox.webhook_key = WEBHOOK_KEY
    yield app
    env.sandbox.webhooks.wait(5)
    env.sandbox.webhook_url = None
    stop()
    app.extensions["db_engine"].dispose()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    served = item.funcargs.get("sandbox")
    if isinstance(served, ServedSandbox) and served.sandbox.contract_violations:
        listed = "\n".join(f"  {v}" for v in served.sandbox.contract_violations)
        pytest.fail(f"the sandbox saw traffic Xero's OpenAPI description rejects:\n{listed}")
    return result


def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))


def authorize(
    served: ServedSandbox,
    client_id: str,
    tenant_ids: list[str] | None = None,
    code_challenge: str | None = None,
    state: str = "xyz",
) -> dict[str, str]:
    """Go through the consent page as a user would; return the redirect's query values."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": state,
    }
    if code_challenge:
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    pool = http()
    page = pool.request("GET", f"{served.url}/identity/connect/authorize", fields=params)
    assert page.status == 200
    html = page.data.decode()
    assert "Allow access" in html
    offered = re.findall(r'name="tenant" value="([^"]+)"', html)
    assert served.org.tenant_id in offered
    form = list(params.items()) + [("decision", "allow")]
    form += [("tenant", t) for t in (tenant_ids if tenant_ids is not None else offered)]
    answer = pool.request(
        "POST",
        f"{served.url}/identity/connect/authorize",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        redirect=False,
    )
    assert answer.status == 302
    location = urlparse(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token_request(served: ServedSandbox, form: dict[str, str]) -> urllib3.BaseHTTPResponse:
    return http().request_encode_body(
        "POST", f"{served.url}/connect/token", fields=form, encode_multipart=False
    )


def connect_through_oauth(
    served: ServedSandbox, tenant_ids: list[str] | None = None
) -> tuple[str, str, dict]:
    client = served.sandbox.register_client(redirect_uris=[REDIRECT_URI], name="Members Portal")
    query = authorize(served, client.client_id, tenant_ids)
    assert query["state"] == "xyz"
    response = token_request(
        served,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    assert response.status == 200, response.data
    return client.client_id, client.client_secret, response.json()


def make_client(
    served: ServedSandbox, client_id: str, client_secret: str | None, token: dict
) -> ApiClient:
    store = {"token": {k: v for k, v in token.items() if k in TOKEN_KEYS}}
    if isinstance(store["token"].get("scope"), str):
        store["token"]["scope"] = store["token"]["scope"].split()
    # Configuration() returns a copy of the first one ever built and ignores its arguments
    # (TypeWithDefault), so the token object must be set on the copy, never passed in.
    configuration = Configuration()
    configuration.oauth2_token = OAuth2Token(client_id=client_id, client_secret=client_secret)
    api_client = ApiClient(configuration, pool_threads=1)
    # The SDK's pool silently retries PUTs on read time-outs and sleeps on 429: never.
    api_client.rest_client.pool_manager = urllib3.PoolManager(retries=False, maxsize=8)

    @api_client.oauth2_token_getter
    def get_token():
        return {k: v for k, v in store["token"].items() if k in TOKEN_KEYS}

    @api_client.oauth2_token_saver
    def save_token(new_token):
        store["token"] = {k: v for k, v in new_token.items() if k in TOKEN_KEYS}

    api_client.token_store = store  # type: ignore[attr-defined]
    return api_client


@pytest.fixture
def token_urls(sandbox, monkeypatch):
    """Point the SDK's (class-level) token URLs at the sandbox."""
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{sandbox.url}/connect/token")
    monkeypatch.setattr(TokenApi, "revoke_token_url", f"{sandbox.url}/connect/revocation")


@pytest.fixture
def accounting_api(sandbox, token_urls) -> Connected:
    """xero-python's AccountingApi on the sandbox, connected through the OAuth flow."""
    client_id, client_secret, token = connect_through_oauth(sandbox)
    api_client = make_client(sandbox, client_id, client_secret, token)
    return Connected(
        api=AccountingApi(api_client, base_url=sandbox.accounting_url),
        identity=IdentityApi(api_client, base_url=sandbox.url),
        api_client=api_client,
        tenant_id=sandbox.org.tenant_id,
        client_id=client_id,
        client_secret=client_secret,
        token=token,
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256_challenge(verifier)


OPENAPI_MISSING = f"Xero's OpenAPI descriptions are not at {default_spec_dir()}"


def openapi_missing() -> bool:
    return not (default_spec_dir() / "xero_accounting.yaml").is_file()


def fail_in_ci_without_openapi() -> None:
    """CI must check the contract: there a missing ../shared/xero-openapi fails the test."""
    if os.environ.get("CI") and openapi_missing():
        pytest.fail(f"{OPENAPI_MISSING}; CI must check the sandbox's contract.", pytrace=False)


@pytest.fixture
def openapi():
    """For tests of the contract checking itself: skipped where Xero's OpenAPI descriptions
    are not beside the project (they are data, not shipped), with the reason printed by -ra;
    failed instead under CI."""
    fail_in_ci_without_openapi()
    if openapi_missing():
        pytest.skip(OPENAPI_MISSING)


needs_openapi = pytest.mark.usefixtures("openapi")
