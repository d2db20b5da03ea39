"""The web layer: ``create_app()`` builds the portal. Views parse input, call one service
from ``billing`` (or ``xero``), and render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from billing.events import EventBus
from billing.inbox import Handlers
from portal import db
from portal.resources import resource_dir
from portal.settings import load_settings

TEMPLATES = resource_dir("templates")


def create_app(
    overrides: dict[str, Any] | None = None,
    session_factory: Callable[[], Session] | None = None,
) -> Flask:
    app = Flask(__name__, template_folder=str(TEMPLATES), instance_relative_config=True)
    app.config.update(load_settings(overrides))
    from portal.request_body import PortalRequest

    app.request_class = PortalRequest
    if app.config["TRUSTED_PROXY_COUNT"]:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    from portal.converters import DatabaseIdConverter

    app.url_map.converters["int"] = DatabaseIdConverter
    # The app's own registries, filled by the wiring below: who hears its domain events
    # (the Xero outbox) and who handles its stored webhook events (Stripe's, Xero's).
    app.extensions["event_bus"] = EventBus()
    app.extensions["inbox_handlers"] = Handlers()
    db.init_app(app, session_factory)

    from portal import (
        errors,
        extensions,
        formatting,
        health,
        login_sessions,
        security_headers,
        stripe_setup,
        xero_setup,
    )

    security_headers.init_app(app)
    extensions.init_app(app)
    login_sessions.init_app(app)
    stripe_setup.init_app(app)
    xero_setup.init_app(app)
    formatting.init_app(app)
    errors.init_app(app)
    health.init_app(app)

    from portal.admin import bp as admin_bp
    from portal.auth import bp as auth_bp
    from portal.invitations import bp as invitations_bp
    from portal.member import bp as member_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(member_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")

    from portal.extensions import csrf
    from portal.webhooks import bp as webhooks_bp

    csrf.exempt(webhooks_bp)
    app.register_blueprint(webhooks_bp)

    from portal import cli

    cli.init_app(app)
    return app
