"""Tests mirror the code by module (issue 12), so a module without a test shows.

A module ``<package>/<module>.py`` is tested in ``tests/<package>/test_<module>.py``, or in
``tests/<package>/test_<module>_<topic>.py`` when one module has several test files.
Suites that test behaviour through many modules keep a directory or file named for what
they are (below).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PACKAGES = ("clarity", "connectors", "mappings", "portal")
# The on-premises agent is a project of its own (agent/); its tests mirror its package.
OTHER_SOURCES = {"agent": "agent/clarity_agent"}

# Modules covered only through others, each with its reason in a word.
UNTESTED_ALONE = {
    "clarity/admin/alerts.py": "through-alerts",
    "clarity/admin/audit.py": "through-exports",
    "clarity/admin/exports.py": "through-exports",
    "clarity/admin/pairs.py": "through-roles",
    "clarity/admin/payloads.py": "through-ledger",
    "clarity/admin_site.py": "wiring",  # the admin site object; tests/clarity/test_roles.py
    "clarity/api/pagination.py": "through-api",
    "clarity/api/parsers.py": "through-api",
    "clarity/api/permissions.py": "through-api",
    "clarity/api/serializers.py": "through-api",
    "clarity/api/urls.py": "urls",
    "clarity/cron.py": "through-schedules",
    "clarity/embedded_redis.py": "devtool",
    "clarity/formats/en/formats.py": "settings",
    "clarity/formats/en_GB/formats.py": "settings",
    "clarity/forms.py": "through-admin",
    "clarity/jobs.py": "thin",
    "clarity/jobs_maintenance.py": "thin",
    "clarity/management/commands/salesforce_subscriber.py": "through-streams",
    "clarity/management/commands/seed_demo.py": "through-demo",
    "clarity/management/commands/syncworker.py": "through-e2e",
    "clarity/models/alerts.py": "models",
    "clarity/models/audit.py": "models",
    "clarity/models/flows.py": "models",
    "clarity/models/health.py": "models",
    "clarity/models/pairs.py": "models",
    "clarity/models/runs.py": "models",
    "clarity/models/scans.py": "models",
    "clarity/models/subscribers.py": "models",
    "clarity/models/webhooks.py": "models",
    "clarity/pagination.py": "through-admin",  # tests/clarity/admin/test_ledger.py
    "clarity/reporting.py": "through-admin",
    "clarity/selectors/exports.py": "through-exports",
    "clarity/selectors/ledger.py": "through-admin",
    "clarity/selectors/runs.py": "through-admin",
    "clarity/services/maintenance.py": "through-alerts",
    "clarity/sync/hourly.py": "through-dashboard",
    "clarity/sync/keys.py": "through-pipeline",
    "clarity/sync/locks.py": "through-sweeper",
    "clarity/sync/queues.py": "through-runs",
    "clarity/sync/storable.py": "through-bulk",
    "clarity/templatetags/clarity_format.py": "through-admin",
    "clarity/urls.py": "urls",
    "clarity/webhooks/urls.py": "urls",
    "clarity/wsgi.py": "wsgi",
    "connectors/agents/models.py": "models",
    "connectors/agents/relay.py": "through-views",
    "connectors/agents/services.py": "through-views",
    "connectors/agents/urls.py": "urls",
    "connectors/configs.py": "through-connectors",
    "connectors/duplicates.py": "through-ledger",
    "connectors/forms.py": "through-admin",
    "connectors/kashflow/catalogue.py": "through-connector",
    "connectors/kashflow/dependencies.py": "through-registry",
    "connectors/kashflow/duplicates.py": "through-ledger",
    "connectors/kashflow/errors.py": "through-errors",  # tests/connectors/test_errors.py
    "connectors/kashflow/records.py": "through-connector",
    "connectors/management/commands/generate_encryption_key.py": "thin",
    "connectors/management/commands/rotate_encryption_keys.py": "through-secrets",
    "connectors/management/commands/sandbox.py": "devtool",
    "connectors/models.py": "models",
    "connectors/salesforce/auth.py": "through-connector",
    "connectors/salesforce/catalogue.py": "through-connector",
    "connectors/salesforce/duplicates.py": "through-errors",
    "connectors/salesforce/pubsub/pubsub_api_pb2.py": "generated",
    "connectors/salesforce/pubsub/pubsub_api_pb2_grpc.py": "generated",
    "connectors/sandbox/control.py": "through-core",
    "connectors/sandbox/kashflow/auth.py": "through-app",
    "connectors/sandbox/kashflow/schema.py": "through-app",
    "connectors/sandbox/kashflow/seed.py": "through-app",
    "connectors/sandbox/salesforce/events.py": "through-app",
    "connectors/sandbox/salesforce/pubsub/stream.py": "through-subscriber",
    "connectors/sandbox/salesforce/rules.py": "through-app",
    "connectors/sandbox/salesforce/schema.py": "through-app",
    "connectors/sandbox/salesforce/seed.py": "through-app",
    "connectors/sandbox/syspro/auth.py": "through-app",
    "connectors/sandbox/syspro/query.py": "through-app",
    "connectors/sandbox/syspro/schema.py": "through-app",
    "connectors/sandbox/syspro/seed.py": "through-app",
    "connectors/sandbox/xero/events.py": "through-app",
    "connectors/sandbox/xero/fields.py": "through-app",
    "connectors/sandbox/xero/seed.py": "through-app",
    "connectors/streams.py": "through-subscriber",
    "connectors/syspro/catalogue.py": "through-connector",
    "connectors/syspro/dependencies.py": "through-registry",
    "connectors/syspro/duplicates.py": "through-ledger",
    "connectors/syspro/errors.py": "through-errors",
    "connectors/syspro/pricing.py": "through-portal",
    "connectors/syspro/wire.py": "through-connector",
    "connectors/syspro/writers.py": "through-connector",
    "connectors/tokens.py": "through-services",
    "connectors/validators.py": "through-admin",
    "connectors/webhooks.py": "through-webhooks",
    "connectors/xero/auth.py": "through-connector",
    "connectors/xero/catalogue.py": "through-connector",
    "connectors/xero/dependencies.py": "through-registry",
    "connectors/xero/duplicates.py": "through-ledger",
    "connectors/xero/errors.py": "through-errors",
    "mappings/bundles.py": "through-versions",
    "mappings/compiling.py": "through-services",
    "mappings/engine/addresses.py": "through-transforms",
    "mappings/engine/dates.py": "through-transforms",
    "mappings/engine/error_codes.py": "enum",
    "mappings/engine/fields.py": "through-plan",
    "mappings/engine/inline.py": "through-plan",
    "mappings/engine/paths.py": "through-plan",
    "mappings/engine/problems.py": "through-plan",
    "mappings/engine/reshape.py": "through-plan",
    "mappings/engine/spec.py": "through-plan",
    "mappings/engine/values.py": "through-transforms",
    "mappings/forms.py": "through-admin",
    "mappings/jobs.py": "through-imports",
    "mappings/jsonfields.py": "through-admin",
    "mappings/models.py": "models",
    "mappings/selectors.py": "through-resources",
    "portal/errors.py": "through-views",
    "portal/models.py": "models",
    "portal/serializers.py": "through-views",
    "portal/urls.py": "urls",
    "portal/views.py": "through-services",
}

# Test files that mirror no module: suites named for what they test through many modules.
CROSS_CUTTING_DIRS = ("browser", "usecases")
CROSS_CUTTING_FILES = {
    "tests/test_install.py",  # pip install of the checkout
    "tests/test_layout.py",  # this file
    "tests/test_xdist_isolation.py",  # the test harness (tests/conftest.py)
    "tests/clarity/test_roles.py",  # roles and permissions across the admin
    "tests/clarity/sync/test_e2e.py",  # a run end to end with a worker
    "tests/clarity/sync/test_chaos.py",  # runs while Redis, PostgreSQL, sandboxes fail
    "tests/connectors/test_conformance.py",  # one contract over every connector
    "tests/connectors/agents/test_end_to_end.py",  # connector, relay and agent together
    "tests/agent/test_end_to_end.py",  # the agent program against the live relay
    "tests/connectors/salesforce/pubsub/test_stubs.py",  # generated stubs match their proto
    "tests/connectors/sandbox/test_layering.py",  # what the sandboxes may import
}


def source_modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or path.name in ("__init__.py", "apps.py"):
                continue
            found.append(relative.as_posix())
    return found


def mirror_test_files() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (TESTS / package).rglob("test_*.py")
        if "__pycache__" not in path.parts
    )


def mirrored_module(test_file: Path) -> str | None:
    """The module ``tests/<package>/test_<module>[_<topic>].py`` tests, if it exists."""
    relative = test_file.relative_to(TESTS)
    source = Path(OTHER_SOURCES.get(relative.parts[0], relative.parts[0]), *relative.parts[1:-1])
    words = relative.stem.removeprefix("test_").split("_")
    for end in range(len(words), 0, -1):
        candidate = source / ("_".join(words[:end]) + ".py")
        if (ROOT / candidate).is_file():
            return candidate.as_posix()
    return None


def test_every_module_has_a_test_module_or_is_named_as_covered_through_others():
    tested = {mirrored_module(path) for path in mirror_test_files()}
    missing = [
        module
        for module in source_modules()
        if module not in tested and not UNTESTED_ALONE.get(module)
    ]
    assert not missing, "Modules without tests/<package>/test_<module>.py:\n  " + "\n  ".join(
        missing
    )


def test_every_test_module_mirrors_a_module_or_is_a_named_cross_cutting_suite():
    strays = []
    for path in sorted(TESTS.rglob("test_*.py")):
        relative = path.relative_to(TESTS)
        if relative.parts[0] in CROSS_CUTTING_DIRS or "__pycache__" in relative.parts:
            continue
        if f"tests/{relative.as_posix()}" in CROSS_CUTTING_FILES:
            continue
        if relative.parts[0] not in (*PACKAGES, *OTHER_SOURCES) or mirrored_module(path) is None:
            strays.append(f"tests/{relative.as_posix()}")
    assert not strays, "Test files that mirror no module:\n  " + "\n  ".join(strays)


def test_the_allowlists_name_only_what_exists():
    modules = set(source_modules())
    tested = {mirrored_module(path) for path in mirror_test_files()}
    stale = [m for m in UNTESTED_ALONE if m not in modules or m in tested]
    stale += [f for f in CROSS_CUTTING_FILES if not (ROOT / f).is_file()]
    assert not stale, "Allowlist entries to remove (gone, or now tested):\n  " + "\n  ".join(stale)
