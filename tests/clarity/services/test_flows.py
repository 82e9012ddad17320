"""The flow services: every change audited, re-enabling un-pauses, the schedule follows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from clarity import jobs
from clarity.models import AuditEvent, Flow, RunStatus, SyncRun, Trigger
from clarity.services.flows import (
    flow_create,
    flow_pause,
    flow_schedule_fire,
    flow_unpause,
    flow_update,
)
from clarity.services.runs import flow_run_enqueue
from clarity.sync.queues import get_queue
from connectors.services import connection_save
from tests.factories import FlowFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db

SCHEDULED = {"trigger_schedule": True, "schedule_cron": "*/15 * * * *"}


def scheduled_ids() -> list[str]:
    return get_queue("default").scheduled_job_registry.get_job_ids()


def test_creating_a_scheduled_flow_is_audited_and_registers_its_schedule(
    django_capture_on_commit_callbacks,
):
    pair, user = PairFactory(), UserFactory()
    data = {
        "pair": pair,
        "name": "Customers",
        "source_connection": pair.connection_a,
        "source_entity": "customers",
        "target_connection": pair.connection_b,
        "target_entity": "Contacts",
        **SCHEDULED,
    }
    with django_capture_on_commit_callbacks(execute=True):
        flow = flow_create(data=data, user=user)

    flow.refresh_from_db()
    assert flow.schedule_job_id in scheduled_ids()
    event = AuditEvent.objects.get(action="flow_create")
    assert (event.user, event.flow) == (user, flow)
    assert event.detail["after"]["source_connection"] == pair.connection_a.pk


def test_an_update_audits_only_what_changed_and_a_bad_one_changes_nothing():
    flow, user = FlowFactory(batch_size=100), UserFactory()

    flow_update(flow=flow, data={"batch_size": 250, "name": flow.name}, user=user)

    event = AuditEvent.objects.get(action="flow_update")
    assert event.detail == {"before": {"batch_size": 100}, "after": {"batch_size": 250}}
    flow_update(flow=flow, data={"batch_size": 250}, user=user)  # nothing changes
    assert AuditEvent.objects.filter(action="flow_update").count() == 1
    with pytest.raises(ValidationError, match="needs a cron schedule"):
        flow_update(flow=flow, data={"trigger_schedule": True}, user=user)
    assert Flow.objects.get(pk=flow.pk).trigger_schedule is False
    assert AuditEvent.objects.filter(action="flow_update").count() == 1


def test_an_update_leaves_the_cursor_a_run_moved_meanwhile():
    flow = FlowFactory()
    Flow.objects.filter(pk=flow.pk).update(cursor="2024-05-01T00:00:00")  # a run read on

    flow_update(flow=flow, data={"batch_size": 50}, user=UserFactory())  # flow is stale

    assert Flow.objects.get(pk=flow.pk).cursor == "2024-05-01T00:00:00"


def test_pausing_unregisters_the_schedule_and_unpausing_registers_it_again(
    django_capture_on_commit_callbacks,
):
    flow, user = FlowFactory(**SCHEDULED), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        flow = flow_update(flow=flow, data={"batch_size": 10}, user=user)
    first = flow.schedule_job_id
    assert first in scheduled_ids()

    with django_capture_on_commit_callbacks(execute=True):
        paused = flow_pause(flow=flow, reason="Login refused:\u0000 by Xero.")

    paused.refresh_from_db()
    assert (paused.enabled, paused.schedule_job_id) == (False, "")
    assert "Login refused:\\u0000 by Xero." in paused.paused_reason  # NUL stored readably
    assert first not in scheduled_ids()
    event = AuditEvent.objects.get(action="flow_pause")
    assert event.user is None  # the sync core paused it, not a person
    assert event.detail["after"]["enabled"] is False

    with django_capture_on_commit_callbacks(execute=True):
        flow_unpause(flow=paused, user=user)

    flow = Flow.objects.get(pk=flow.pk)
    assert (flow.enabled, flow.paused_reason) == (True, "")
    assert flow.schedule_job_id in scheduled_ids()
    event = AuditEvent.objects.filter(action="flow_update").latest("id")
    assert event.user == user
    assert event.detail["before"]["paused_reason"].startswith("Login refused")


def test_a_pause_needs_a_reason():
    flow = FlowFactory()
    with pytest.raises(ValidationError, match="reason is required"):
        flow_pause(flow=flow, reason="  ")
    assert Flow.objects.get(pk=flow.pk).enabled is True


def test_a_scheduled_moment_runs_the_flow_and_registers_the_next(
    django_capture_on_commit_callbacks,
):
    flow = FlowFactory(**SCHEDULED)
    with django_capture_on_commit_callbacks(execute=True):
        flow = flow_update(flow=flow, data={"batch_size": 10}, user=None)
    job_id = flow.schedule_job_id

    assert flow_schedule_fire(flow_id=flow.pk, job_id="a-job-left-from-before") is False
    assert flow_schedule_fire(flow_id=flow.pk, job_id=job_id) is True

    assert SyncRun.objects.get(flow=flow).trigger == Trigger.SCHEDULE
    assert Flow.objects.get(pk=flow.pk).schedule_job_id not in ("", job_id)


@pytest.mark.django_db(transaction=True)
def test_a_refused_login_fails_the_run_and_the_job_pauses_the_flow_through_the_service(
    syspro_xero,
):
    flow = syspro_xero["flow"]
    syspro = flow.source_connection
    connection_save(connection=syspro, new_credentials={"operator_password": "not-the-password"})
    run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)

    said = jobs._run_flow(run.pk)

    assert said.startswith("paused: Paused because a login was refused")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "login was refused" in run.message
    flow.refresh_from_db()
    assert flow.enabled is False and "Reconnect the connection" in flow.paused_reason
    assert AuditEvent.objects.get(action="flow_pause", flow=flow).user is None


def _admin_form_data(client, url: str, **changes: object) -> dict[str, object]:
    """What the flow's admin page would post: its current values, with ``changes``."""
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields} | changes
    return {k: ("" if v is None else v) for k, v in data.items() if v is not False}


@pytest.mark.django_db(transaction=True)
def test_the_admin_enables_a_paused_flow_through_the_services_audited_and_scheduled(
    consultant_client, consultant
):
    flow = FlowFactory(enabled=False, paused_reason="Login refused", **SCHEDULED)
    url = reverse("admin:clarity_flow_change", args=[flow.pk])

    response = consultant_client.post(url, _admin_form_data(consultant_client, url, enabled=True))

    assert response.status_code == 302
    flow.refresh_from_db()
    assert (flow.enabled, flow.paused_reason) == (True, "")
    assert flow.schedule_job_id in scheduled_ids()
    event = AuditEvent.objects.get(action="flow_update")
    assert event.user == consultant
    assert event.detail["before"] == {"enabled": False, "paused_reason": "Login refused"}
