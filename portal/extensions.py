"""Flask extensions: sessions (flask-login), CSRF (flask-wtf) and secret encryption."""

from __future__ import annotations

from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from billing.encryption import SecretBox

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"
# Bind the session to the client's IP/agent hash: a stolen cookie is less useful elsewhere.
login_manager.session_protection = "strong"

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    csrf.init_app(app)
    key = app.config["ENCRYPTION_KEY"]
    try:
        box = SecretBox(key) if key else SecretBox.from_secret_key(app.config["SECRET_KEY"])
    except ValueError:
        from portal.settings import ConfigError

        raise ConfigError(
            "ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes). "
            "Generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`, or leave it unset to derive one from "
            "SECRET_KEY."
        ) from None
    app.extensions["secret_box"] = box


def secret_box() -> SecretBox:
    return current_app.extensions["secret_box"]
