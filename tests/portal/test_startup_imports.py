"""A process that builds the app (every gunicorn worker without preload, every ``flask``
command) loads only what serving a request needs: the SDKs and tools that take a large share
of start-up are imported where they are used (issue 10)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: Imported on first use only: a Xero call, a Xero sign-in or token refresh, a Stripe call,
#: a migration.
LAZY = (
    "xero_python",
    "authlib.integrations.requests_client",
    "authlib.integrations.base_client",
    "stripe",
    "alembic",
)

PROGRAM = textwrap.dedent(
    """
    import json, sys
    from portal import create_app

    app = create_app({"DATABASE_URL": sys.argv[1]})
    with app.test_client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/login").status_code == 200
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"xero_python",
        "authlib", "stripe", "alembic"})))
    """
)


def test_building_the_app_and_serving_a_page_imports_no_sdk(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_DEMO", "1")
    url = f"sqlite:///{tmp_path / 'startup.db'}"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROGRAM, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if m.startswith(LAZY)] == []


def test_the_lazy_modules_are_importable_where_they_are_used():
    # The imports moved into functions still resolve (a typo there would only show on the
    # first Xero call in production).
    from xero.api import tokens
    from xero.integration import XeroIntegration  # noqa: F401

    tokens._identity_failure(ValueError("x"))  # imports xero_python.exceptions
    assert "xero_python.exceptions" in sys.modules
