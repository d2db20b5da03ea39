"""Settings: defaults, environment overrides, demo mode and the cookies production gets."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.settings import DEMO_SECRET_KEY, ConfigError, load_settings
from tests.conftest import TEST_SECRET_KEY, Client, login
from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Settings under test come from this test alone, not from the shell running pytest."""
    for name in load_settings({"SECRET_KEY": "x"}):
        monkeypatch.delenv(name, raising=False)


def test_missing_secret_key_stops_start_up(database_url):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set") as error:
        create_app({"DATABASE_URL": database_url})
    assert "PORTAL_DEMO=1" in str(error.value)


def test_empty_secret_key_from_environment_stops_start_up(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"DATABASE_URL": database_url})


def test_defaults_are_safe():
    settings = load_settings({"SECRET_KEY": TEST_SECRET_KEY})
    assert settings["PORTAL_DEMO"] is False
    assert settings["REQUIRE_ADMIN_2FA"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings["REMEMBER_COOKIE_SECURE"] is True
    assert settings["TRUSTED_PROXY_COUNT"] == 0


@pytest.mark.parametrize(
    "raw, expected",
    [("1", True), ("true", True), ("YES", True), (" on ", True)]
    + [("0", False), ("false", False), ("No", False), ("off", False), ("", False)],
)
def test_boolean_from_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("REQUIRE_ADMIN_2FA", raw)
    assert load_settings({"SECRET_KEY": TEST_SECRET_KEY})["REQUIRE_ADMIN_2FA"] is expected


def test_environment_overrides_defaults_with_types(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("PAGE_SIZE", "7")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    monkeypatch.setenv("INVOICE_PREFIX", "ACME-")
    settings = load_settings()
    assert settings["SECRET_KEY"] == "from-the-environment"
    assert settings["PAGE_SIZE"] == 7
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["INVOICE_PREFIX"] == "ACME-"


def test_explicit_overrides_win_over_environment(monkeypatch):
    monkeypatch.setenv("PAGE_SIZE", "7")
    assert load_settings({"SECRET_KEY": "k", "PAGE_SIZE": 3})["PAGE_SIZE"] == 3


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("REQUIRE_ADMIN_2FA", "maybe", "REQUIRE_ADMIN_2FA must be 1 or 0"),
        ("SESSION_COOKIE_SECURE", "2", "SESSION_COOKIE_SECURE must be 1 or 0"),
        ("PAGE_SIZE", "ten", "PAGE_SIZE must be a whole number"),
        ("TRUSTED_PROXY_COUNT", "1.5", "TRUSTED_PROXY_COUNT must be a whole number"),
        ("BILLING_DAY", "29", "BILLING_DAY must be 1 to 28"),
        ("BILLING_HOUR", "24", r"BILLING_HOUR must be 0 to 23 \(UTC\), not 24"),
        ("BILLING_HOUR", "-1", "BILLING_HOUR must be 0 to 23"),
        ("BILLING_AUTOMATIC", "sometimes", "BILLING_AUTOMATIC must be 1 or 0"),
    ],
)
def test_malformed_environment_value_stops_start_up(monkeypatch, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=message):
        load_settings({"SECRET_KEY": TEST_SECRET_KEY})


def test_demo_mode_sets_a_secret_and_plain_http_cookies(monkeypatch):
    monkeypatch.setenv("PORTAL_DEMO", "1")
    settings = load_settings()
    assert settings["PORTAL_DEMO"] is True
    assert settings["SECRET_KEY"] == DEMO_SECRET_KEY
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["REMEMBER_COOKIE_SECURE"] is False


def test_demo_mode_keeps_a_given_secret():
    settings = load_settings({"PORTAL_DEMO": True, "SECRET_KEY": "my own"})
    assert settings["SECRET_KEY"] == "my own"


def test_production_session_cookie_is_secure_httponly_lax(database_url, db, admin):
    # No cookie overrides: the production defaults.
    app = create_app(
        {"TESTING": True, "SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": database_url},
        session_factory=lambda: db,
    )
    app.test_client_class = Client
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    # Over https flask-wtf also wants a same-origin Referer, as a browser sends.
    response = client.post_form(
        "https://localhost/login",
        {"email": admin.email, "password": PASSWORD},
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def test_demo_session_cookie_is_not_secure(database_url, db, admin):
    app = create_app(
        {"TESTING": True, "PORTAL_DEMO": True, "DATABASE_URL": database_url}, lambda: db
    )
    app.test_client_class = Client
    client = app.test_client()
    response = login(client, admin.email)
    assert response.status_code == 302
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" not in attributes
    assert "httponly" in attributes


def test_malformed_encryption_key_stops_start_up(database_url):
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is not a valid Fernet key"):
        create_app(
            {"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": database_url, "ENCRYPTION_KEY": "x"}
        )


def test_encryption_key_is_used_when_given(database_url):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    settings = {"SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": database_url}
    app = create_app({**settings, "ENCRYPTION_KEY": key})
    token = app.extensions["secret_box"].encrypt("JBSWY3DPEHPK3PXP")
    assert Fernet(key.encode()).decrypt(token.encode()) == b"JBSWY3DPEHPK3PXP"
    # The key derived from SECRET_KEY is a different one.
    derived = create_app(settings).extensions["secret_box"]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        derived.decrypt(token)


@pytest.mark.parametrize("name", ["INVITATION_LINK_HOURS", "MAX_CONTENT_LENGTH"])
@pytest.mark.parametrize("raw", ["0", "-5"])
def test_limits_below_one_stop_start_up(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=f"{name} must be at least 1, not {raw}"):
        load_settings({"SECRET_KEY": TEST_SECRET_KEY})


def test_security_limits_default():
    settings = load_settings({"SECRET_KEY": TEST_SECRET_KEY})
    assert settings["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert settings["INVITATION_LINK_HOURS"] == 72
