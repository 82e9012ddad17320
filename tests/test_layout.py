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

# Modules covered only through others: each names the test file under tests/ that covers
# it, or, for wiring with no behaviour of its own, one of WIRING's words.
WIRING = {"devtool", "enum", "generated", "settings", "thin", "urls", "wiring", "wsgi"}
UNTESTED_ALONE = {
    "clarity/admin/alerts.py": "clarity/services/test_alerts.py",
    "clarity/admin/audit.py": "clarity/services/test_exports.py",
    "clarity/admin/exports.py": "clarity/services/test_exports.py",
    "clarity/admin/payloads.py": "clarity/admin/test_ledger.py",
    "clarity/admin_site.py": "wiring",
    "clarity/api/pagination.py": "clarity/api/test_views.py",
    "clarity/api/parsers.py": "clarity/api/test_views.py",
    "clarity/api/permissions.py": "clarity/api/test_views.py",
    "clarity/api/serializers.py": "clarity/api/test_views.py",
    "clarity/api/urls.py": "urls",
    "clarity/cron.py": "clarity/sync/test_schedules.py",
    "clarity/embedded_redis.py": "devtool",
    "clarity/formats/en/formats.py": "settings",
    "clarity/formats/en_GB/formats.py": "settings",
    "clarity/forms.py": "clarity/services/test_bundles_import_export.py",
    "clarity/jobs.py": "thin",
    "clarity/jobs_maintenance.py": "thin",
    "clarity/management/commands/seed_demo.py": "clarity/services/test_demo.py",
    "clarity/management/commands/syncworker.py": "clarity/sync/test_e2e.py",
    "clarity/models/alerts.py": "clarity/services/test_alerts.py",
    "clarity/models/audit.py": "clarity/services/test_exports.py",
    "clarity/models/flows.py": "clarity/services/test_flows.py",
    "clarity/models/health.py": "clarity/selectors/test_health.py",
    "clarity/models/pairs.py": "clarity/services/test_bundles.py",
    "clarity/models/reconciliation.py": "clarity/services/test_reconciliation.py",
    "clarity/models/runs.py": "clarity/services/test_runs.py",
    "clarity/models/scans.py": "clarity/sync/test_fullscan.py",
    "clarity/models/subscribers.py": "clarity/webhooks/test_streams.py",
    "clarity/models/validation.py": "clarity/sync/test_validation.py",
    "clarity/models/webhooks.py": "clarity/webhooks/test_services.py",
    "clarity/pagination.py": "clarity/admin/test_ledger.py",
    "clarity/reporting.py": "clarity/admin/test_ledger.py",
    "clarity/selectors/exports.py": "clarity/services/test_exports.py",
    "clarity/selectors/ledger.py": "clarity/admin/test_ledger.py",
    "clarity/selectors/reconciliation.py": "clarity/admin/test_reconciliation.py",
    "clarity/selectors/runs.py": "clarity/admin/test_runs.py",
    "clarity/selectors/validation.py": "clarity/admin/test_validation.py",
    "clarity/services/maintenance.py": "clarity/services/test_alerts.py",
    "clarity/sync/hourly.py": "clarity/admin/test_dashboard.py",
    "clarity/sync/keys.py": "clarity/sync/test_pipeline.py",
    "clarity/sync/locks.py": "clarity/services/test_sweeper.py",
    "clarity/sync/queues.py": "clarity/services/test_runs.py",
    "clarity/sync/storable.py": "clarity/sync/test_bulk.py",
    "clarity/templatetags/clarity_format.py": "clarity/admin/test_ledger.py",
    "clarity/urls.py": "urls",
    "clarity/webhooks/urls.py": "urls",
    "clarity/wsgi.py": "wsgi",
    "connectors/agents/relay.py": "connectors/agents/test_views.py",
    "connectors/agents/services.py": "connectors/agents/test_views.py",
    "connectors/agents/urls.py": "urls",
    "connectors/configs.py": "connectors/test_registry.py",
    "connectors/duplicates.py": "clarity/services/test_ledger_link.py",
    "connectors/forms.py": "connectors/test_admin.py",
    "connectors/kashflow/catalogue.py": "connectors/kashflow/test_connector.py",
    "connectors/kashflow/dependencies.py": "connectors/test_registry.py",
    "connectors/kashflow/duplicates.py": "clarity/services/test_ledger_link.py",
    "connectors/kashflow/errors.py": "connectors/test_errors.py",
    "connectors/kashflow/records.py": "connectors/kashflow/test_connector.py",
    "connectors/management/commands/generate_encryption_key.py": "thin",
    "connectors/management/commands/rotate_encryption_keys.py": "connectors/test_secrets.py",
    "connectors/management/commands/sandbox.py": "devtool",
    "connectors/models.py": "connectors/test_secrets.py",
    "connectors/salesforce/auth.py": "connectors/salesforce/test_connector.py",
    "connectors/salesforce/catalogue.py": "connectors/salesforce/test_connector.py",
    "connectors/salesforce/duplicates.py": "clarity/services/test_ledger_link.py",
    "connectors/salesforce/pubsub/pubsub_api_pb2.py": "generated",
    "connectors/salesforce/pubsub/pubsub_api_pb2_grpc.py": "generated",
    "connectors/sandbox/control.py": "connectors/sandbox/test_core.py",
    "connectors/sandbox/kashflow/auth.py": "connectors/sandbox/kashflow/test_app.py",
    "connectors/sandbox/kashflow/schema.py": "connectors/sandbox/kashflow/test_app.py",
    "connectors/sandbox/kashflow/seed.py": "connectors/sandbox/kashflow/test_app.py",
    "connectors/sandbox/salesforce/events.py": "connectors/sandbox/salesforce/test_app.py",
    "connectors/sandbox/salesforce/pubsub/stream.py": "connectors/salesforce/test_subscriber.py",
    "connectors/sandbox/salesforce/rules.py": "connectors/sandbox/salesforce/test_app.py",
    "connectors/sandbox/salesforce/schema.py": "connectors/sandbox/salesforce/test_app.py",
    "connectors/sandbox/salesforce/seed.py": "connectors/sandbox/salesforce/test_app.py",
    "connectors/sandbox/syspro/auth.py": "connectors/sandbox/syspro/test_app.py",
    "connectors/sandbox/syspro/query.py": "connectors/sandbox/syspro/test_app.py",
    "connectors/sandbox/syspro/schema.py": "connectors/sandbox/syspro/test_app.py",
    "connectors/sandbox/syspro/seed.py": "connectors/sandbox/syspro/test_app.py",
    "connectors/sandbox/xero/events.py": "connectors/sandbox/xero/test_app.py",
    "connectors/sandbox/xero/fields.py": "connectors/sandbox/xero/test_app.py",
    "connectors/sandbox/xero/seed.py": "connectors/sandbox/xero/test_app.py",
    "connectors/streams.py": "connectors/salesforce/test_subscriber.py",
    "connectors/syspro/catalogue.py": "connectors/syspro/test_connector.py",
    "connectors/syspro/dependencies.py": "connectors/test_registry.py",
    "connectors/syspro/duplicates.py": "clarity/services/test_ledger_link.py",
    "connectors/syspro/errors.py": "connectors/test_errors.py",
    "connectors/syspro/pricing.py": "portal/test_selectors_prices.py",
    "connectors/syspro/wire.py": "connectors/syspro/test_connector.py",
    "connectors/syspro/writers.py": "connectors/syspro/test_connector.py",
    "connectors/tokens.py": "connectors/test_services.py",
    "connectors/validators.py": "connectors/test_admin.py",
    "connectors/webhooks.py": "connectors/xero/test_webhooks.py",
    "connectors/xero/auth.py": "connectors/xero/test_connector.py",
    "connectors/xero/catalogue.py": "connectors/xero/test_connector.py",
    "connectors/xero/dependencies.py": "connectors/test_registry.py",
    "connectors/xero/duplicates.py": "clarity/services/test_ledger_link.py",
    "connectors/xero/errors.py": "connectors/test_errors.py",
    "mappings/bundles.py": "mappings/test_services_versions.py",
    "mappings/compiling.py": "mappings/test_services_versions.py",
    "mappings/engine/addresses.py": "mappings/engine/test_transforms.py",
    "mappings/engine/dates.py": "mappings/engine/test_transforms.py",
    "mappings/engine/error_codes.py": "enum",
    "mappings/engine/fields.py": "mappings/engine/test_plan.py",
    "mappings/engine/inline.py": "mappings/engine/test_plan.py",
    "mappings/engine/paths.py": "mappings/engine/test_plan.py",
    "mappings/engine/problems.py": "mappings/engine/test_plan.py",
    "mappings/engine/reshape.py": "mappings/engine/test_plan.py",
    "mappings/engine/spec.py": "mappings/engine/test_plan.py",
    "mappings/engine/values.py": "mappings/engine/test_transforms.py",
    "mappings/forms.py": "mappings/test_admin.py",
    "mappings/jobs.py": "mappings/test_resources_imports.py",
    "mappings/jsonfields.py": "mappings/test_admin.py",
    "mappings/models.py": "mappings/test_services_versions.py",
    "mappings/selectors.py": "mappings/test_resources_rows.py",
    "portal/errors.py": "portal/test_services_orders.py",
    "portal/models.py": "portal/test_services_orders.py",
    "portal/serializers.py": "portal/test_services_orders.py",
    "portal/urls.py": "urls",
    "portal/views.py": "portal/test_services_orders.py",
}

# Test files that mirror no module: suites named for what they test through many modules.
CROSS_CUTTING_DIRS = ("browser", "usecases")
CROSS_CUTTING_FILES = {
    "tests/test_install.py",  # pip install of the checkout
    "tests/test_layout.py",  # this file
    "tests/test_xdist_isolation.py",  # the test harness (tests/conftest.py)
    "tests/test_flush.py",  # the test harness's end of a transactional test (tests/flush.py)
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
    stale += [
        f"{module}: {test}"
        for module, test in UNTESTED_ALONE.items()
        if test not in WIRING and not (TESTS / test).is_file()
    ]
    assert not stale, "Allowlist entries to remove (gone, or now tested):\n  " + "\n  ".join(stale)
