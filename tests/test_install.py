"""``pip install .`` (not editable) gives a project that runs without the source tree.

The wheel is built from a copy of the checkout, installed into a fresh virtual
environment and imported from a directory outside the checkout, so a package,
migration, management command, template or static file left out of
``pyproject.toml`` fails here rather than on a customer's server. The fresh
environment borrows the test environment's third-party packages through a plain
path in a ``.pth`` file: a path line adds the directory only, so the editable
install's own hook there stays inactive and cannot hand back the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
# Never part of what pip builds from: the environment, history, build leftovers, caches.
NOT_SOURCE = (".venv", ".git", "build", "var", "artifacts", "*.egg-info", "__pycache__",
              "*.pyc", ".hypothesis", ".ruff_cache", ".pytest_cache", ".mypy_cache")  # fmt: skip

# Runs inside the fresh environment: imports every module of every app of ours
# and proves each came from the installed copy; prints what it imported.
CHECK = """
import importlib, json, pkgutil, sys
from pathlib import Path

import django

site, ours = Path(sys.argv[1]), json.loads(sys.argv[2])
django.setup()
from django.conf import settings

def failed(name):
    raise ImportError(f"cannot import {name}")

modules = []
for app in settings.INSTALLED_APPS:
    top = importlib.import_module(app.split(".")[0])
    if top.__name__ not in ours:
        continue
    importlib.import_module(app.rsplit(".", 1)[0] if app.endswith("Config") else app)
    modules.append(top)
    for info in pkgutil.walk_packages(top.__path__, top.__name__ + ".", onerror=failed):
        modules.append(importlib.import_module(info.name))
outside = [m.__name__ for m in modules if site not in Path(m.__file__).resolve().parents]
assert not outside, f"imported from outside the installed copy: {outside}"
print(json.dumps(sorted({m.__name__ for m in modules})))
"""


def _ours() -> list[str]:
    """Installed apps whose top-level package is in this checkout (not a third party's)."""
    tops = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    return sorted(top for top in tops if (ROOT / top / "__init__.py").is_file())


def _files(base: Path, folder: str) -> set[str]:
    """Every file under ``base/folder`` but compiled bytecode, relative to ``base``."""
    return {
        str(path.relative_to(base))
        for path in (base / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def _run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_pip_install_of_the_checkout_imports_every_app_outside_the_source_tree(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--wheel-dir", wheels, source)  # fmt: skip
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", "--disable-pip-version-check", *wheels.glob("*.whl"))  # fmt: skip
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())  # fmt: skip
    (site / "third_party.pth").write_text(sysconfig.get_path("purelib") + "\n")

    ours = _ours()
    assert {"clarity", "connectors", "mappings", "portal"} <= set(ours)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="clarity.settings", CLARITY_VAR_DIR=str(tmp_path / "var"))
    imported = json.loads(
        _run(python, "-c", CHECK, site.resolve(), json.dumps(ours), cwd=workdir, env=env).stdout
    )
    assert {"clarity.migrations", "portal.migrations", "clarity.management.commands.up"} <= set(
        imported
    )

    # Templates, static files and data (bundle templates) travel with the code:
    # settings find the project-wide templates/ and static/ beside the packages.
    folders = [*ours, *(Path(d).name for d in settings.TEMPLATES[0]["DIRS"]),
               *(Path(d).name for d in settings.STATICFILES_DIRS)]  # fmt: skip
    expected = set().union(*(_files(source, folder) for folder in folders))
    installed = set().union(*(_files(site, folder) for folder in folders))
    assert sorted(expected - installed) == []
