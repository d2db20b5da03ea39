"""GET /healthz: for load balancers. 200 when the database answers, 503 otherwise."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from portal.db import get_db


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        try:
            get_db().execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            app.logger.exception("health check: database unreachable")
            return jsonify(status="error", database="unreachable"), 503
        return jsonify(status="ok", database="ok")
