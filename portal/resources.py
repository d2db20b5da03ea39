"""Where the files that are not Python code live: templates/, migrations/ and config/.

In the repository they sit at the top level, beside the packages. A wheel can only install
packages, so pyproject.toml ships them inside this package as ``portal/_bundled/<name>``
(see ``[tool.setuptools.package-dir]``). An installed portal finds them there; a checkout,
editable install or not, finds them at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The directory ``name`` (templates, migrations or config), installed or in a checkout."""
    bundled = PACKAGE_DIR / "_bundled" / name
    if bundled.is_dir():
        return bundled
    return PACKAGE_DIR.parent / name
