"""Run now, run history, backfill and the ledger's fix-and-retry tools, as each role uses them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import redis
from django.urls import reverse

from clarity.models import AuditEvent, Flow, RecordStatus, RunStatus, SyncRecord, SyncRun
from clarity.sync.queues import get_queue, pair_queue_name
from mappings.models import Mapping
from tests.factories import FlowFactory, RecordFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db

LEDGER = reverse("admin:clarity_syncrecord_changelist")


def queued_job_ids(pair_id: int) -> list[str]:
    return get_queue(pair_queue_name(pair_id)).get_job_ids()


@pytest.fixture(autouse=True)
def empty_queues(flow):
    get_queue(pair_queue_name(flow.pair_id)).empty()


@pytest.fixture
def flow():
    return FlowFactory(name="Customers → Contacts")


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


# -- flows -------------------------------------------------------------------------------


def test_run_now_queues_one_run_and_says_so(
    consultant_client, consultant, flow, django_capture_on_commit_callbacks
):
    url = reverse("admin:clarity_flow_run", args=[flow.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = consultant_client.post(url, follow=True)
    run = SyncRun.objects.get(flow=flow)
    assert f">{run.pk}</a> of “{flow.name}” is queued." in messages_of(response)
    assert len(queued_job_ids(flow.pair_id)) == 1
    assert AuditEvent.objects.filter(action="run_now", user=consultant, flow=flow).exists()
    # A second click joins the waiting run: nothing is queued twice.
    with django_capture_on_commit_callbacks(execute=True):
        consultant_client.post(url)
    assert SyncRun.objects.filter(flow=flow).count() == 1
    assert len(queued_job_ids(flow.pair_id)) == 1


def test_run_now_of_a_paused_flow_is_refused_with_its_reason(operator_client, flow):
    Flow.objects.filter(pk=flow.pk).update(enabled=False, paused_reason="Xero refused the login.")
    response = operator_client.post(reverse("admin:clarity_flow_run", args=[flow.pk]), follow=True)
    assert "Not run" in messages_of(response)
    assert "Xero refused the login." in messages_of(response)
    assert not SyncRun.objects.exists()


def test_run_selected_flows_action(operator_client, flow, django_capture_on_commit_callbacks):
    manual_off = FlowFactory(pair=flow.pair, trigger_manual=False, trigger_webhook=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("admin:clarity_flow_changelist"),
            {"action": "run_selected", "_selected_action": [flow.pk, manual_off.pk]},
            follow=True,
        )
    text = messages_of(response)
    assert "is queued" in text and "does not allow manual runs" in text
    assert list(SyncRun.objects.values_list("flow_id", flat=True)) == [flow.pk]


def test_finance_cannot_run_or_backfill(finance_client, flow):
    for name in ("run", "backfill"):
        response = finance_client.post(reverse(f"admin:clarity_flow_{name}", args=[flow.pk]))
        assert response.status_code == 403
    assert not SyncRun.objects.exists()


def test_flow_page_shows_recent_runs_pause_and_tools(consultant_client, flow):
    Flow.objects.filter(pk=flow.pk).update(paused_reason="Paused because a login was refused.")
    RunFactory(flow=flow, status=RunStatus.RUNNING, total_count=40, succeeded_count=25)
    html = consultant_client.get(reverse("admin:clarity_flow_change", args=[flow.pk])).content
    html = html.decode()
    assert "Paused because a login was refused." in html
    assert "25 / 40" in html and "Running" in html
    assert 'value="Run now"' in html or ">Run now<" in html
    assert "Set cursor back" in html


def test_backfill_sets_the_cursor_through_the_connector_and_is_audited(
    operator_client, operator, flow
):
    flow.source_connection.system = "xero"
    flow.source_connection.settings = {"tenant_id": "tenant-1"}
    flow.source_connection.save()
    response = operator_client.post(
        reverse("admin:clarity_flow_backfill", args=[flow.pk]),
        {"since": "2024-03-01T00:00"},
        follow=True,
    )
    assert "reads again from 2024-03-01T00:00:00" in messages_of(response)
    flow.refresh_from_db()
    assert flow.cursor == "2024-03-01T00:00:00"
    event = AuditEvent.objects.get(action="cursor_set")
    assert (event.user, event.detail["after"]) == (operator, "2024-03-01T00:00:00")


def test_backfill_of_a_syspro_flow_reads_everything_again(consultant_client, flow):
    """SYSPRO marks changes by rowversion, not date: no date places its cursor, clearing does."""
    Flow.objects.filter(pk=flow.pk).update(cursor='["41", "0000007"]')
    response = consultant_client.post(
        reverse("admin:clarity_flow_backfill", args=[flow.pk]),
        {"since": "2024-03-01T08:30"},
        follow=True,
    )
    assert "row version, not a date" in messages_of(response)
    flow.refresh_from_db()
    assert flow.cursor == '["41", "0000007"]'
    consultant_client.post(reverse("admin:clarity_flow_backfill", args=[flow.pk]), {"since": ""})
    flow.refresh_from_db()
    assert flow.cursor == ""


def test_backfill_with_a_bad_date_changes_nothing(consultant_client, flow):
    Flow.objects.filter(pk=flow.pk).update(cursor="keep")
    response = consultant_client.post(
        reverse("admin:clarity_flow_backfill", args=[flow.pk]),
        {"since": "last tuesday"},
        follow=True,
    )
    assert "Cursor not moved" in messages_of(response)
    assert Flow.objects.get(pk=flow.pk).cursor == "keep"
    assert not AuditEvent.objects.exists()


def test_saving_a_flow_registers_its_schedule(
    consultant_client, flow, django_capture_on_commit_callbacks
):
    data = {
        "pair": flow.pair_id,
        "name": flow.name,
        "enabled": "on",
        "source_connection": flow.source_connection_id,
        "source_entity": "customers",
        "target_connection": flow.target_connection_id,
        "target_entity": "Contacts",
        "source_of_truth": "source",
        "batch_size": 100,
        "trigger_manual": "on",
        "trigger_schedule": "on",
        "schedule_cron": "*/15 * * * *",
    }
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert consultant_client.post(url, data).status_code == 302
    flow.refresh_from_db()
    assert flow.schedule_job_id.startswith(f"schedule-{flow.pk}-")
    assert flow.schedule_job_id in get_queue("default").scheduled_job_registry.get_job_ids()


@pytest.mark.django_db(transaction=True)
def test_saving_a_flow_with_redis_down_still_saves_and_warns(consultant_client, flow, monkeypatch):
    """On a real commit: the warning is added while the request is still being answered."""

    def unreachable(**kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr("clarity.services.flows.flow_schedule_register", unreachable)
    Flow.objects.filter(pk=flow.pk).update(enabled=False, paused_reason="login refused")
    data = {
        "pair": flow.pair_id,
        "name": "Renamed",
        "enabled": "on",
        "source_connection": flow.source_connection_id,
        "source_entity": "customers",
        "target_connection": flow.target_connection_id,
        "target_entity": "Contacts",
        "source_of_truth": "source",
        "batch_size": 100,
        "trigger_manual": "on",
        "trigger_schedule": "on",
        "schedule_cron": "*/15 * * * *",
    }
    url = reverse("admin:clarity_flow_change", args=[flow.pk])
    response = consultant_client.post(url, data, follow=True)
    assert "the sweeper registers it" in messages_of(response)
    flow.refresh_from_db()
    assert (flow.name, flow.enabled, flow.paused_reason) == ("Renamed", True, "")
    assert flow.schedule_job_id == ""  # the sweeper's schedules_ensure registers it later


# -- runs --------------------------------------------------------------------------------


def test_a_running_runs_page_refreshes_itself_and_links_to_its_records(finance_client, flow):
    run = RunFactory(flow=flow, status=RunStatus.RUNNING, total_count=200, succeeded_count=120)
    mine = RecordFactory(flow=flow, run=run)
    RecordFactory(flow=flow)
    page = reverse("admin:clarity_syncrun_change", args=[run.pk])
    html = finance_client.get(page).content.decode()
    progress = reverse("admin:clarity_syncrun_progress", args=[run.pk])
    assert f'data-progress-url="{progress}"' in html and "clarity/run_progress.js" in html
    # A run reading its source does not know its total: counts so far, no bar.
    assert "120 done of 200 read so far; the source does not say how many more" in html
    assert "<progress" not in html
    assert f"?run={run.pk}" in html
    listed = finance_client.get(LEDGER, {"run": run.pk})
    assert [r.pk for r in listed.context["cl"].result_list] == [mine.pk]
    live = finance_client.get(progress).json()
    assert (live["active"], live["done"], live["total_known"]) == (True, 120, False)

    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, succeeded_count=200)
    html = finance_client.get(page).content.decode()
    assert "data-progress-url" not in html
    assert "200 done of 200 read (200 succeeded, 0 skipped, 0 failed)" in html
    assert finance_client.get(progress).json()["active"] is False


def test_a_retry_run_knows_its_total_and_shows_a_bar(finance_client, flow):
    run = RunFactory(
        flow=flow, trigger="retry", status=RunStatus.RUNNING, total_count=100,
        succeeded_count=30, failed_count=10,
    )  # fmt: skip
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert '40 of 100 done <progress value="40" max="100"></progress>' in html.content.decode()
    live = finance_client.get(reverse("admin:clarity_syncrun_progress", args=[run.pk])).json()
    assert (live["done"], live["total"], live["total_known"]) == (40, 100, True)


def test_a_run_whose_source_told_its_total_shows_a_bar(finance_client, flow):
    run = RunFactory(
        flow=flow, status=RunStatus.RUNNING, total_count=80, succeeded_count=50, expected_total=300
    )
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert '50 of 300 done <progress value="50" max="300"></progress>' in html.content.decode()
    live = finance_client.get(reverse("admin:clarity_syncrun_progress", args=[run.pk])).json()
    assert (live["done"], live["total"], live["total_known"]) == (50, 300, True)
    # Records that arrived while it read count too: the bar never runs past its end.
    SyncRun.objects.filter(pk=run.pk).update(succeeded_count=310, status=RunStatus.SUCCEEDED)
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert '310 of 310 done <progress value="310" max="310">' in html.content.decode()


def test_run_progress_needs_the_right_to_see_runs(client, flow):
    run = RunFactory(flow=flow, status=RunStatus.RUNNING)
    client.force_login(UserFactory(username="no-role"))
    assert client.get(reverse("admin:clarity_syncrun_progress", args=[run.pk])).status_code == 403


def test_a_run_is_titled_by_its_number_and_flow_name(finance_client, flow):
    run = RunFactory(flow=flow)
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert f"Run #{run.pk} of flow “Customers → Contacts”" in html.content.decode()
    assert "Run #" in str(run) and f"of {flow.pk}" not in str(run)


def test_times_name_their_zone(finance_client, flow, settings):
    run = RunFactory(
        flow=flow, status=RunStatus.SUCCEEDED, started_at=datetime(2026, 7, 1, 9, 5, tzinfo=UTC)
    )
    RecordFactory(flow=flow, run=run)
    runs = finance_client.get(reverse("admin:clarity_syncrun_changelist")).content.decode()
    assert "1 Jul 2026, 09:05 UTC" in runs
    assert " UTC</td>" in finance_client.get(LEDGER).content.decode()
    settings.TIME_ZONE = "Europe/London"
    runs = finance_client.get(reverse("admin:clarity_syncrun_changelist")).content.decode()
    assert "1 Jul 2026, 10:05 BST" in runs


@pytest.mark.parametrize(
    "outcomes, shown",
    [
        ({"succeeded": 498, "skipped": 0, "failed": 2}, "0.4%"),
        ({"succeeded": 29_999, "skipped": 0, "failed": 1}, "<0.1%"),
        ({"succeeded": 1, "skipped": 0, "failed": 2_999}, ">99.9%"),
        ({"succeeded": 6, "skipped": 0, "failed": 2}, "25%"),
        ({"succeeded": 5, "skipped": 0, "failed": 0}, "0%"),
        ({"succeeded": 0, "skipped": 0, "failed": 0}, "—"),
    ],
)
def test_a_failure_rate_is_never_zero_when_something_failed(outcomes, shown):
    from clarity.templatetags.clarity_format import failure_rate

    assert failure_rate(outcomes) == shown


def test_the_dashboard_shows_two_failures_in_500_as_a_rate(operator_client, flow):
    from clarity.sync.hourly import ledger_outcomes_count

    ok = [RecordFactory(flow=flow) for _ in range(3)]
    failed = [RecordFactory(flow=flow, status=RecordStatus.FAILED) for _ in range(2)]
    ledger_outcomes_count(rows=ok * 166 + failed, at=datetime.now(UTC))
    html = operator_client.get(reverse("admin:clarity_healthdashboard_changelist"))
    html = html.content.decode()
    assert "<td>0.4%</td>" in html
    assert "Times are UTC." in html


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


# -- the RQ dashboard ------------------------------------------------------------------


def test_the_rq_dashboard_lists_every_pairs_queue_and_its_jobs(operator_client, flow):
    from django_rq.settings import get_queues_map

    other = FlowFactory(name="Invoices")  # a second pair, made after startup
    queue = get_queue(pair_queue_name(other.pair_id))
    queue.empty()
    job = queue.enqueue("operator.add", 2, 3)
    try:
        html = operator_client.get("/admin/django_rq/dashboard/").content.decode()
        for pair_id in (flow.pair_id, other.pair_id):
            assert re.search(rf">\s*{pair_queue_name(pair_id)}\s*</a>", html), pair_id
        index = get_queues_map()[pair_queue_name(other.pair_id)]
        jobs = operator_client.get(reverse("admin:django_rq_jobs", args=[index]))
        assert jobs.status_code == 200
        assert job.id in jobs.content.decode()
    finally:
        queue.empty()


def test_the_rq_dashboard_stays_closed_to_finance(finance_client):
    assert finance_client.get("/admin/django_rq/dashboard/").status_code == 403
