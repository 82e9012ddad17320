"""Bundle import goes through the flow services: audited, un-paused, schedules registered."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from clarity.models import AuditEvent, Flow
from clarity.services.bundles import TEMPLATE_DIR, bundle_import
from clarity.sync.queues import get_queue
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def template() -> dict:
    return json.loads((TEMPLATE_DIR / "syspro_xero.json").read_text())


@pytest.fixture
def connections():
    return {
        "a": ConnectionFactory(name="SYSPRO test", system="syspro"),
        "b": ConnectionFactory(name="Xero test", system="xero"),
    }


def scheduled_ids() -> list[str]:
    return get_queue("default").scheduled_job_registry.get_job_ids()


def test_a_bundle_with_enabled_scheduled_flows_registers_their_schedules(
    connections, consultant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pair = bundle_import(
            bundle=template(), connections=connections, pair_name="SYSPRO ↔ Xero", user=consultant
        )

    flows = list(pair.flows.all())
    scheduled = [f for f in flows if f.enabled and f.trigger_schedule]
    assert scheduled, "the shipped template schedules flows"
    registered = scheduled_ids()
    assert all(f.schedule_job_id in registered for f in scheduled)
    assert all(f.schedule_job_id == "" for f in flows if f not in scheduled)
    created = AuditEvent.objects.filter(action="flow_create", user=consultant)
    assert {e.flow_id for e in created} == {f.pk for f in flows}


def test_reimporting_a_bundle_unpauses_a_paused_flow_and_schedules_it_again(
    connections, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pair = bundle_import(bundle=template(), connections=connections, pair_name="P")
    flow = pair.flows.filter(trigger_schedule=True).first()
    Flow.objects.filter(pk=flow.pk).update(
        enabled=False, paused_reason="Login refused", schedule_job_id=""
    )

    with django_capture_on_commit_callbacks(execute=True):
        bundle_import(bundle=template(), connections=connections, pair_name="P")

    flow.refresh_from_db()
    assert (flow.enabled, flow.paused_reason) == (True, "")
    assert flow.schedule_job_id in scheduled_ids()
    # The other flows did not change: no audit noise for them.
    assert list(AuditEvent.objects.filter(action="flow_update").values_list("flow", flat=True)) == [
        flow.pk
    ]


def test_the_admin_import_audits_under_the_person_who_applied_it(consultant_client, consultant):
    connections = {
        "a": ConnectionFactory(name="S", system="syspro"),
        "b": ConnectionFactory(name="X", system="xero"),
    }
    url = reverse("admin:clarity_integrationpair_import")
    form = {
        "template": "syspro_xero.json",
        "pair_name": "Imported",
        "connection_a": connections["a"].pk,
        "connection_b": connections["b"].pk,
    }
    assert consultant_client.post(url, form).status_code == 200  # the preview
    consultant_client.post(url, {"apply": "1"})

    flows = Flow.objects.filter(pair__name="Imported")
    assert flows.exists()
    events = AuditEvent.objects.filter(action="flow_create")
    assert {e.flow_id for e in events} == set(flows.values_list("pk", flat=True))
    assert {e.user for e in events} == {consultant}
