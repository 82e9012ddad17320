"""Roles: what a finance user, a consultant and an operator may reach."""

from __future__ import annotations

import io
import logging

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.urls import reverse

from tests.factories import ConnectionFactory, FlowFactory, RecordFactory


def _roles() -> dict[str, set[tuple[str, str]]]:
    return {
        group.name: set(group.permissions.values_list("content_type__app_label", "codename"))
        for group in Group.objects.all()
    }


@pytest.mark.django_db(transaction=True)
def test_the_roles_are_as_migrated_after_a_transactional_tests_flush():
    """The suite's own guard (tests/conftest.py): a test that runs after a transactional
    one on the same worker finds the roles the migrations made, all of them."""
    migrated = _roles()
    assert {"Consultant", "Operator", "Finance"} <= set(migrated)
    # What ends a transactional test, as Django's TransactionTestCase calls it: keeping the
    # sequences, since the process caches compiled mappings by id (a reset once made later
    # tests on this worker run other tests' mappings).
    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)
    assert _roles() == migrated


@pytest.mark.django_db
def test_the_roles_exist_with_their_permissions():
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    assert finance == {
        "view_syncrun",
        "view_syncrecord",
        "resolve_syncrecord",
        "retry_syncrecord",
        "view_alert",  # clarity/migrations/0008_alert_roles.py
        "view_validaterun",  # clarity/migrations/0019_validate_runs.py
        "view_validaterecord",
        "view_auditevent",  # clarity/migrations/0021_matching_rules.py: the auditors' role
        "view_matchdecision",
        "view_reconciliationrun",  # clarity/migrations/0022_reconciliation.py
        "view_reconciliationfinding",
        "acknowledge_reconciliationfinding",
        "run_reconciliation",
    }
    consultant = set(
        Group.objects.get(name="Consultant").permissions.values_list("codename", flat=True)
    )
    assert {"change_connection", "change_flow", "change_integrationpair"} <= consultant
    assert "resolve_syncrecord" not in consultant
    assert Group.objects.filter(name="Operator").exists()


@pytest.mark.django_db
def test_finance_is_refused_credentials_pairs_and_flows(finance_client):
    conn = ConnectionFactory()
    flow = FlowFactory()
    forbidden = [
        reverse("admin:connectors_connection_changelist"),
        reverse("admin:connectors_connection_change", args=[conn.pk]),
        reverse("admin:connectors_connection_add"),
        reverse("admin:clarity_flow_changelist"),
        reverse("admin:clarity_flow_change", args=[flow.pk]),
        reverse("admin:clarity_integrationpair_changelist"),
    ]
    for url in forbidden:
        assert finance_client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_finance_reads_the_ledger_and_runs(finance_client):
    record = RecordFactory()
    assert finance_client.get(reverse("admin:clarity_syncrecord_changelist")).status_code == 200
    assert (
        finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk])).status_code
        == 200
    )
    assert finance_client.get(reverse("admin:clarity_syncrun_changelist")).status_code == 200
    index = finance_client.get(reverse("admin:index")).content.decode()
    assert "Connections" not in index


@pytest.mark.django_db
def test_rq_dashboard_is_for_operators_only(finance_client, consultant_client, operator_client,
                                            superuser_client):  # fmt: skip
    url = reverse("admin:django_rq_dashboard_changelist")
    queue_url = reverse("admin:django_rq_jobs", args=[0])
    for client in (finance_client, consultant_client):
        assert client.get(url).status_code == 403
        assert client.get(queue_url).status_code == 403
    for client in (operator_client, superuser_client):
        assert client.get(url).status_code == 200


PAIRS = reverse("admin:clarity_integrationpair_changelist")


def offered_actions(client) -> set[str]:
    form = client.get(PAIRS).context["action_form"]
    return set(dict(form.fields["action"].choices)) if form else set()


def export_bundle(client, pair):
    return client.post(PAIRS, {"action": "export_bundle", "_selected_action": [pair.pk]})


@pytest.mark.django_db
def test_a_bundle_is_exported_only_by_a_role_that_may_view_all_it_holds(
    operator_client, consultant_client
):
    """A bundle holds mappings and lookup tables: the Operator, who may not view them, gets none."""
    pair = FlowFactory().pair
    assert operator_client.get(PAIRS).status_code == 200
    assert "export_bundle" not in offered_actions(operator_client)
    refused = export_bundle(operator_client, pair)  # posted by hand all the same
    assert refused.status_code in (200, 302)
    assert not refused.has_header("Content-Disposition")

    assert "export_bundle" in offered_actions(consultant_client)
    exported = export_bundle(consultant_client, pair)
    assert exported.status_code == 200
    assert exported["Content-Disposition"].startswith("attachment;")
    assert exported.json()["format"] == "clarity-bundle/1"


@pytest.mark.django_db
def test_a_bundle_export_needs_every_view_permission_not_just_the_pairs(client):
    """Every kind of row a bundle carries counts: lacking only lookup entries refuses."""
    from clarity.services.bundles import BUNDLE_MODELS
    from tests.factories import UserFactory

    pair = FlowFactory().pair
    user = UserFactory(username="almost")
    views = [
        Permission.objects.get(
            content_type__app_label=m._meta.app_label, codename=f"view_{m._meta.model_name}"
        )
        for m in BUNDLE_MODELS
    ]
    user.user_permissions.add(*[p for p in views if p.codename != "view_lookupentry"])
    client.force_login(user)
    assert not export_bundle(client, pair).has_header("Content-Disposition")
    user.user_permissions.add(*views)
    client.force_login(User.objects.get(pk=user.pk))  # permissions are cached per user object
    assert export_bundle(client, pair)["Content-Disposition"].startswith("attachment;")


@pytest.mark.django_db
def test_bundle_import_needs_write_permission_on_all_it_writes(operator_client):
    page = operator_client.get(reverse("admin:clarity_integrationpair_import"))
    assert page.status_code == 403
    assert "to import one your role must also be allowed to add integration pairs" in (
        page.content.decode()
    )
    assert "Import a configuration bundle" not in operator_client.get(PAIRS).content.decode()


@pytest.mark.django_db
def test_bundle_import_needs_delete_on_the_rows_it_replaces(client):
    """Applying a bundle deletes a mapping's old parts and a table's old entries."""
    from clarity.services.bundles import BUNDLE_MODELS, BUNDLE_REPLACED_MODELS
    from tests.factories import UserFactory

    user = UserFactory(username="writer")
    user.user_permissions.add(
        *[
            Permission.objects.get(
                content_type__app_label=m._meta.app_label, codename=f"{action}_{m._meta.model_name}"
            )
            for m in BUNDLE_MODELS
            for action in ("view", "add", "change")
        ]
    )
    client.force_login(user)
    page = client.get(reverse("admin:clarity_integrationpair_import"))
    assert page.status_code == 403
    refusal = page.content.decode()
    assert "delete lookup entries" in refusal
    assert "add " not in refusal.split("must also be allowed to", 1)[1].split(".")[0]
    assert "Import a configuration bundle" not in client.get(PAIRS).content.decode()
    # With the apply step posted directly the answer is the same.
    assert (
        client.post(reverse("admin:clarity_integrationpair_import"), {"apply": "1"}).status_code
        == 403
    )

    user.user_permissions.add(
        *[
            Permission.objects.get(
                content_type__app_label=m._meta.app_label, codename=f"delete_{m._meta.model_name}"
            )
            for m in BUNDLE_REPLACED_MODELS
        ]
    )
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(reverse("admin:clarity_integrationpair_import")).status_code == 200
    assert "Import a configuration bundle" in client.get(PAIRS).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name", ["admin:mappings_lookupentry_export", "admin:mappings_fieldmappingrow_export"]
)
def test_spreadsheet_exports_need_view_permission(url_name, operator_client, consultant_client):
    assert operator_client.get(reverse(url_name)).status_code == 403
    assert consultant_client.get(reverse(url_name)).status_code == 200


@pytest.mark.django_db
def test_a_refused_page_is_styled_and_says_which_role_opens_it(finance_client):
    """Finance following a link from a record to its connection gets a page, not bare text."""
    conn = ConnectionFactory()
    page = finance_client.get(reverse("admin:connectors_connection_change", args=[conn.pk]))
    assert page.status_code == 403
    html = page.content.decode()
    assert "admin/css/base.css" in html  # the admin's look
    assert "Clarity Connect" in html
    assert "Not open to your role" in html
    assert "This page is for the <strong>Consultant</strong> role" in html
    assert "“finance1”" in html
    assert reverse("admin:index") in html


@pytest.mark.django_db
def test_every_refused_admin_page_names_the_role_that_opens_it(finance_client):
    from tests.mappings.factories import FieldMappingRowFactory

    mapping_id = FieldMappingRowFactory().mapping_id
    for url in (
        reverse("admin:clarity_flow_changelist"),
        reverse("admin:connectors_connection_add"),
        reverse("admin:mappings_mapping_try", args=[mapping_id]),
        reverse("admin:mappings_lookupentry_import"),
        reverse("admin:clarity_integrationpair_import"),
    ):
        page = finance_client.get(url)
        assert page.status_code == 403, url
        assert "<strong>Consultant</strong>" in page.content.decode(), url


@pytest.mark.django_db
def test_missing_pages_and_server_errors_are_branded(finance_client):
    missing = finance_client.get("/admin/no-such-page/here/")
    assert missing.status_code == 404
    assert "Clarity Connect" in missing.content.decode()
    assert "Page not found" in missing.content.decode()
    plain_missing = finance_client.get("/no-such-page/")
    assert plain_missing.status_code == 404
    assert "Clarity Connect" in plain_missing.content.decode()

    from django.test import RequestFactory
    from django.views.defaults import server_error

    failed = server_error(RequestFactory().get("/admin/"))
    assert failed.status_code == 500
    assert "Clarity Connect" in failed.content.decode()
    assert "Something went wrong" in failed.content.decode()


@pytest.mark.django_db
def test_an_expired_form_is_a_branded_page():
    from django.test import Client

    refused = Client(enforce_csrf_checks=True).post(
        reverse("admin:login"), {"username": "x", "password": "y"}
    )
    assert refused.status_code == 403
    assert "Clarity Connect" in refused.content.decode()
    assert "This form has expired" in refused.content.decode()


@pytest.mark.django_db
def test_the_admin_is_branded_clarity_connect(client, superuser_client):
    for page in (client.get(reverse("admin:login")), superuser_client.get(reverse("admin:index"))):
        html = page.content.decode()
        assert "Clarity Connect" in html
        assert "Django administration" not in html
        assert "Django site admin" not in html


def stream_handlers_of(logger: logging.Logger) -> list[logging.StreamHandler]:
    found = []
    while logger:
        # Exactly StreamHandler: pytest's capturing handlers are subclasses.
        found += [h for h in logger.handlers if type(h) is logging.StreamHandler]
        logger = logger.parent if logger.propagate else None
    return found


@pytest.mark.django_db
def test_a_403_is_logged_once(finance_client, settings):
    """Django's own console handler used to print each refusal beside the root handler."""
    settings.DEBUG = True  # the demo's setting, where Django's console handler is live
    url = reverse("admin:clarity_flow_changelist")
    printed = io.StringIO()
    handlers = stream_handlers_of(logging.getLogger("django.request"))
    streams = [h.setStream(printed) for h in handlers]
    try:
        assert finance_client.get(url).status_code == 403
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)
    assert printed.getvalue().count(f"Forbidden (Permission denied): {url}") == 1
    assert printed.getvalue().count("Traceback") == 1


@pytest.mark.django_db
def test_a_ledger_payload_download_needs_view_permission_on_the_record(client, finance_client):
    from tests.factories import UserFactory

    record = RecordFactory()
    url = reverse("admin:clarity_syncrecord_download", args=[record.pk, "source"])
    client.force_login(UserFactory(username="no-role"))  # staff, but in no role
    assert client.get(url).status_code == 403
    downloaded = finance_client.get(url)
    assert downloaded.status_code == 200
    assert downloaded["Content-Disposition"].startswith("attachment;")
