"""The admin's modules load when the admin is first used, not in every process: a worker or
the event subscriber starts without them (their start is what events wait out on a
restart), and the admin still has every page and check once asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import django
django.setup()
from django.contrib import admin
before = "clarity.admin" in sys.modules, len(admin.site._registry)
from django.core import checks
errors = [str(e) for e in checks.run_checks(tags=[checks.Tags.admin])]
from django.urls import reverse
reverse("admin:index")
print(json.dumps({"before": before, "after": len(admin.site._registry), "errors": errors}))
"""


def test_django_starts_without_the_admin_and_loads_it_on_first_use() -> None:
    found = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "clarity.settings", "PATH": "/usr/bin:/bin",
             "SECRET_KEY": "x" * 50},
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    seen = json.loads(found.stdout.strip().splitlines()[-1])
    assert seen["before"] == [False, 0]  # nothing of the admin imported by setup
    assert seen["after"] > 20 and seen["errors"] == []  # every ModelAdmin, checked clean
