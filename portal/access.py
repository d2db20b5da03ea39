"""Who may see what. Blueprints call these from before_request, so no route is forgotten."""

from __future__ import annotations

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user


def require_admin():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    if (
        current_app.config["REQUIRE_ADMIN_2FA"]
        and not current_user.totp_enabled
        and request.endpoint != "auth.two_factor_setup"
    ):
        return redirect(url_for("auth.two_factor_setup"))
    return None


def require_member():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.is_admin:
        return redirect(url_for("admin.home"))
    return None


def current_customer_id() -> int:
    """The only customer whose data the signed-in member may see."""
    customer_id = current_user.customer_id
    if customer_id is None:
        abort(403)
    return customer_id
