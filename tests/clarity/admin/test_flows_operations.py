"""Run now, backfill and saving a flow in the admin, as each role uses them."""

from __future__ import annotations

import pytest
import redis
from django.urls import reverse

from clarity.models import AuditEvent, Flow, RunStatus, SyncRun
from clarity.sync.queues import get_queue
from tests.clarity.admin import operations
from tests.clarity.admin.operations import messages_of, queued_job_ids
from tests.factories import FlowFactory, RunFactory

pytestmark = pytest.mark.django_db
flow = operations.flow
empty_queues = operations.empty_queues  # autouse: each test starts with its queue empty


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
