"""The package as `pip install .` ships it: build the wheel, install it (not editable) into a
fresh virtualenv, migrate a scratch SQLite database and serve the app under gunicorn.

The rest of the suite imports the packages from the checkout, where templates/, migrations/
and config/ sit beside them; only this test sees what an installed portal can find. Marked
``wheel`` (``-m "not wheel"`` leaves it out). It never skips: dependencies come from the
package index (pip's cache makes that quick on a machine that has installed them before).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.localstripe import _free_port

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("billing", "portal", "xero", "xero_sandbox")
#: Files that are not Python code and the installed portal cannot start or run without.
BUNDLED = (
    "portal/_bundled/templates/base.html",
    "portal/_bundled/templates/auth/login.html",
    "portal/_bundled/migrations/env.py",
    "portal/_bundled/migrations/script.py.mako",
    "portal/_bundled/migrations/versions/0001_foundation.py",
    "portal/_bundled/config/defaults.py",
    "portal/static/js/pay.js",
    "portal/static/js/invoice_form.js",
    "portal/static/js/page.js",
    "xero_sandbox/templates/sandbox/consent.html",
    "xero_sandbox/templates/sandbox/online_invoice.html",
)
#: pip and gunicorn on a busy CI machine: generous, and a hang still ends the test.
INSTALL_TIMEOUT = 600
START_TIMEOUT = 60


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own commands
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", INSTALL_TIMEOUT),
        **kwargs,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def source_files() -> list[str]:
    """The checkout's files as a clone would have them (tracked, plus new unignored ones)."""
    listed = run("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy, so no build/ or *.egg-info lands in the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source)
    [built] = dist.glob("members_portal_billing-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv (no system site-packages) with the wheel and its dependencies."""
    path = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", path)
    run(path / "bin" / "python", "-m", "pip", "install", "--no-compile", "--quiet", wheel)
    return path


@pytest.fixture
def workdir(tmp_path) -> Path:
    # Not the checkout: `flask --app portal` puts the working directory on sys.path.
    return tmp_path


def test_the_wheel_holds_every_module_and_the_files_the_portal_needs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        name for name in source_files() if name.endswith(".py") and name.startswith(PACKAGES)
    }
    assert modules - names == set(), "packages missing from [tool.setuptools] packages"
    assert set(BUNDLED) - names == set()
    migrations = {n for n in source_files() if n.startswith("migrations/versions/")}
    assert {f"portal/_bundled/{n}" for n in migrations} <= names


def test_the_installed_portal_migrates_and_serves_under_gunicorn(venv, workdir):
    bin_dir = venv / "bin"
    database = workdir / "portal.db"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(workdir),
        "SECRET_KEY": "wheel-test-secret-key-0123456789abcdef",
        "DATABASE_URL": f"sqlite:///{database}",
        # Plain http on loopback: no secure-only cookies needed to read /login.
        "SESSION_COOKIE_SECURE": "0",
    }
    located = run(
        bin_dir / "python",
        "-c",
        "import portal, portal.resources as r; print(portal.__file__); "
        "print(r.resource_dir('templates'))",
        cwd=workdir,
        env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in located), located

    run(bin_dir / "flask", "--app", "portal", "db", "upgrade", cwd=workdir, env=env)
    assert database.is_file()

    port = _free_port()
    log = (workdir / "gunicorn.log").open("w")
    server = subprocess.Popen(  # noqa: S603
        [str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "portal:create_app()"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _first_answer(f"{base}/healthz", server, workdir) == 200
        with urllib.request.urlopen(f"{base}/login", timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert b'name="password"' in response.read()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_installed_sandbox_finds_its_templates(venv, workdir):
    script = (
        "from xero_sandbox import Sandbox, create_sandbox_app\n"
        "app = create_sandbox_app(Sandbox())\n"
        "for name in ('sandbox/consent.html', 'sandbox/online_invoice.html'):\n"
        "    print(app.jinja_env.get_template(name).filename)\n"
    )
    found = run(venv / "bin" / "python", "-c", script, cwd=workdir).stdout.split()
    assert len(found) == 2 and all(Path(p).is_relative_to(venv) for p in found), found


def _first_answer(url: str, server: subprocess.Popen, workdir: Path) -> int:
    """The status of the first answer while gunicorn starts (polls; fails if it exits)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{(workdir / 'gunicorn.log').read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer:\n{(workdir / 'gunicorn.log').read_text()}")
            time.sleep(0.2)
