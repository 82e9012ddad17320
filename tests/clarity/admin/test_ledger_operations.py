"""The ledger's fix-and-retry tools in the admin, as each role uses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from clarity.models import AuditEvent, Flow, RecordStatus, SyncRecord, SyncRun
from mappings.models import Mapping
from tests.clarity.admin import operations
from tests.clarity.admin.operations import LEDGER, messages_of, queued_job_ids
from tests.factories import FlowFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db
flow = operations.flow
empty_queues = operations.empty_queues  # autouse: each test starts with its queue empty


# -- ledger ------------------------------------------------------------------------------


@pytest.fixture
def failures(flow):
    mapping = Mapping.objects.create(
        name="m", source_system="SYSPRO", source_entity="customers", target_system="Xero",
        target_entity="Contacts",
    )  # fmt: skip
    Mapping.objects.filter(pk=mapping.pk).update(version=3)
    Flow.objects.filter(pk=flow.pk).update(mapping=mapping)
    common = {"flow": flow, "status": RecordStatus.FAILED, "error_kind": "data"}
    return {
        "vat": RecordFactory(
            **common, error_code="vat_missing", mapping_version=2,
            transformed_payload={"Name": "Acme", "TaxType": None},
        ),
        "vat2": RecordFactory(**common, error_code="vat_missing", mapping_version=3),
        "other": RecordFactory(**common, error_code="name_taken"),
        "ok": RecordFactory(flow=flow),
    }  # fmt: skip


def post_action(client, action: str, records, **extra):
    return client.post(
        LEDGER,
        {"action": action, "_selected_action": [r.pk for r in records], **extra},
        follow=True,
    )


def status_of(record) -> str:
    return SyncRecord.objects.get(pk=record.pk).status


def test_retry_selected_queues_failures_and_refuses_succeeded(
    finance_client, failures, flow, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(finance_client, "retry_selected", [failures["vat"], failures["ok"]])
    text = messages_of(response)
    assert "1 record(s) queued" in text and "1 record(s) refused" in text
    assert status_of(failures["vat"]) == RecordStatus.PENDING
    assert status_of(failures["ok"]) == RecordStatus.SUCCEEDED
    assert SyncRun.objects.filter(flow=flow, trigger="retry").count() == 1
    assert len(queued_job_ids(flow.pair_id)) == 1


def test_retry_by_error_code_takes_every_record_with_that_code(finance_client, failures):
    response = post_action(finance_client, "retry_error_codes", [failures["vat"]])
    assert "2 record(s) failing with vat_missing" in messages_of(response)
    assert status_of(failures["vat2"]) == RecordStatus.PENDING
    assert status_of(failures["other"]) == RecordStatus.FAILED


@pytest.fixture
def shared_code(flow, failures):
    """vat_missing also fails a second flow of the same pair, and a flow of another pair."""
    sibling = FlowFactory(pair=flow.pair, name="Invoices")
    stranger = FlowFactory(name="Elsewhere")
    common = {"status": RecordStatus.FAILED, "error_kind": "data", "error_code": "vat_missing"}
    return {
        "sibling": RecordFactory(flow=sibling, **common),
        "stranger": RecordFactory(flow=stranger, **common),
    }


def test_retry_by_code_says_its_scope_flow_or_pair(finance_client, failures, shared_code, flow):
    record = failures["vat"]
    page = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = page.content.decode()
    assert f"Retry every record failing with vat_missing in this flow ({flow.name})" in html
    assert f"Retry every record failing with vat_missing in every flow of {flow.pair.name}" in html
    listing = finance_client.get(LEDGER).content.decode()
    assert "error code(s), in the same flow" in listing
    assert "error code(s), in every flow of the same pair" in listing

    url = reverse("admin:clarity_syncrecord_retry_code", args=[record.pk])
    response = finance_client.post(url, {"scope": "flow"}, follow=True)
    assert f"2 record(s) failing with vat_missing in flow “{flow.pair.name}: {flow.name}”" in (
        messages_of(response)
    )
    assert status_of(shared_code["sibling"]) == RecordStatus.FAILED
    SyncRecord.objects.filter(pk__in=[failures["vat"].pk, failures["vat2"].pk]).update(
        status=RecordStatus.FAILED
    )
    response = finance_client.post(url, {"scope": "pair"}, follow=True)
    assert f"3 record(s) failing with vat_missing in every flow of pair “{flow.pair.name}”" in (
        messages_of(response)
    )
    assert status_of(shared_code["sibling"]) == RecordStatus.PENDING
    assert status_of(shared_code["stranger"]) == RecordStatus.FAILED
    assert status_of(failures["other"]) == RecordStatus.FAILED


def test_retry_by_code_pair_wide_from_the_list(finance_client, failures, shared_code):
    response = post_action(finance_client, "retry_error_codes_pair", [failures["vat"]])
    assert "3 record(s) failing with vat_missing in every flow of pair" in messages_of(response)
    assert status_of(shared_code["sibling"]) == RecordStatus.PENDING
    assert status_of(shared_code["stranger"]) == RecordStatus.FAILED


def test_retry_by_code_without_a_code_says_nothing_was_retried(finance_client, failures):
    for action in ("retry_error_codes", "retry_error_codes_pair"):
        response = post_action(finance_client, action, [failures["ok"]])
        assert "have no error code: nothing was retried" in messages_of(response)
    assert status_of(failures["vat"]) == RecordStatus.FAILED


def test_retry_by_code_needs_the_retry_permission(consultant_client, failures, shared_code):
    record = failures["vat"]
    page = consultant_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    assert b"Retry every record failing" not in page.content
    url = reverse("admin:clarity_syncrecord_retry_code", args=[record.pk])
    assert consultant_client.post(url, {"scope": "pair"}).status_code == 403
    post_action(consultant_client, "retry_error_codes_pair", [record])
    assert status_of(shared_code["sibling"]) == RecordStatus.FAILED


def test_ignore_needs_a_note_and_is_audited(finance_client, finance, failures):
    response = post_action(finance_client, "ignore_selected", [failures["other"]], note="")
    assert "the note is required" in messages_of(response)
    assert status_of(failures["other"]) == RecordStatus.FAILED
    post_action(finance_client, "ignore_selected", [failures["other"]], note="Duplicate in Xero")
    record = SyncRecord.objects.get(pk=failures["other"].pk)
    assert (record.status, record.resolution_note) == (RecordStatus.IGNORED, "Duplicate in Xero")
    assert AuditEvent.objects.get(record=record, action="ignore").user == finance


def test_consultants_cannot_retry_ignore_or_edit(consultant_client, failures):
    record = failures["vat"]
    for action in (
        "retry_selected",
        "retry_error_codes",
        "retry_error_codes_pair",
        "ignore_selected",
        "assign_to_me",
    ):
        post_action(consultant_client, action, [record], note="x")
    assert status_of(record) == RecordStatus.FAILED
    assert not AuditEvent.objects.exists()
    edit = reverse("admin:clarity_syncrecord_edit_payload", args=[record.pk])
    assert consultant_client.get(edit).status_code == 403
    assert consultant_client.post(edit, {"payload": "{}"}).status_code == 403
    assign = reverse("admin:clarity_syncrecord_assign", args=[record.pk])
    assert consultant_client.post(assign, {"tags": "x"}).status_code == 403
    page = consultant_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    assert b"Edit the payload and retry" not in page.content


def test_edit_payload_and_retry_is_audited_and_shown(finance_client, finance, failures):
    record = failures["vat"]
    page = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = page.content.decode()
    assert "Edit the payload and retry" in html
    assert "&quot;TaxType&quot;: null" in html  # prefilled with what was sent
    assert "a retry will use version 3" in html

    edit = reverse("admin:clarity_syncrecord_edit_payload", args=[record.pk])
    response = finance_client.post(edit, {"payload": '{"Name": "Acme", "TaxType": "OUTPUT2"}'})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.status == RecordStatus.PENDING
    assert record.payload_override == {"Name": "Acme", "TaxType": "OUTPUT2"}
    event = AuditEvent.objects.get(record=record, action="edit_payload")
    assert event.user == finance and event.detail["before"] == {"Name": "Acme", "TaxType": None}

    html = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = html.content.decode()
    assert "finance1" in html and "edit payload" in html and "OUTPUT2" in html


@pytest.mark.parametrize(
    "text, error",
    [('{"Name": "Acme",}', "not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_a_bad_payload_edit_is_a_form_error_and_changes_nothing(
    finance_client, failures, text, error
):
    record = failures["vat"]
    edit = reverse("admin:clarity_syncrecord_edit_payload", args=[record.pk])
    response = finance_client.post(edit, {"payload": text})
    assert response.status_code == 200
    assert error in " ".join(response.context["payload_form"].errors["payload"])
    assert text.replace('"', "&quot;") in response.content.decode()
    record.refresh_from_db()
    assert (record.status, record.payload_override) == (RecordStatus.FAILED, None)
    assert not AuditEvent.objects.exists()


def test_editing_a_succeeded_record_is_refused(finance_client, failures):
    edit = reverse("admin:clarity_syncrecord_edit_payload", args=[failures["ok"].pk])
    response = finance_client.post(edit, {"payload": "{}"})
    assert "only failed, unknown or ignored records can be edited" in " ".join(
        response.context["payload_form"].errors["payload"]
    )
    assert status_of(failures["ok"]) == RecordStatus.SUCCEEDED


def test_assign_tag_and_filter_assigned_to_me(finance_client, finance, failures):
    colleague = UserFactory(username="colleague", role="Finance")
    assign = reverse("admin:clarity_syncrecord_assign", args=[failures["vat"].pk])
    response = finance_client.post(
        assign, {"assigned_to": colleague.pk, "tags": " VAT, month-end,,vat "}, follow=True
    )
    assert "Assignment and tags saved." in messages_of(response)
    record = SyncRecord.objects.get(pk=failures["vat"].pk)
    assert (record.assigned_to, record.tags) == (colleague, "vat, month-end")
    assert AuditEvent.objects.get(record=record, action="assign").detail["after"] == {
        "assigned_to": "colleague",
        "tags": "vat, month-end",
    }

    response = post_action(finance_client, "assign_to_me", [failures["other"], failures["ok"]])
    assert "1 failed record(s) assigned to you." in messages_of(response)
    mine = finance_client.get(LEDGER, {"assigned": "me"})
    assert [r.pk for r in mine.context["cl"].result_list] == [failures["other"].pk]


def test_ledger_changelist_queries_stay_flat_with_assignees_and_tags(
    finance_client, finance, flow, django_assert_max_num_queries
):
    RecordFactory.create_batch(3, flow=flow)
    with django_assert_max_num_queries(20) as few:
        finance_client.get(LEDGER)
    people = [UserFactory() for _ in range(5)]
    for n in range(40):
        RecordFactory(
            flow=FlowFactory() if n % 10 == 0 else flow,
            status=RecordStatus.FAILED,
            error_code=f"E{n % 4}",
            assigned_to=people[n % 5],
            tags="vat, month-end",
        )
    for query in ("", "?assigned=me", "?status=failed", "?run=1"):
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = finance_client.get(LEDGER + query)
            assert response.status_code == 200
    assert b"vat, month-end" in finance_client.get(LEDGER).content


def test_xero_cursor_of_a_moment_is_utc():
    from connectors.configs import connector_for
    from tests.factories import ConnectionFactory

    xero = ConnectionFactory(system="xero", settings={"tenant_id": "tenant-1"})
    moment = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert connector_for(xero).cursor_at("Contacts", moment) == "2024-03-01T12:00:00"
