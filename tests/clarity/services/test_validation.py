"""Starting validate runs: one waiting run per flow, its job on the pair's queue (real Redis)."""

from __future__ import annotations

import pytest

from clarity.jobs import validate_flow
from clarity.models import AuditEvent, ValidateRun, ValidateStatus
from clarity.services.validation import validate_pair_start, validate_run_start
from clarity.sync.queues import get_queue, pair_queue_name
from tests.factories import FlowFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_is_queued_on_the_pair_queue_once_and_audited():
    flow = FlowFactory(enabled=False)  # validating is for flows not live yet
    user = UserFactory(username="consultant7", role="Consultant")
    queue = get_queue(pair_queue_name(flow.pair_id))
    queue.empty()

    run = validate_run_start(flow=flow, user=user)
    again = validate_run_start(flow=flow, user=user)

    assert again.pk == run.pk and run.status == ValidateStatus.QUEUED
    assert run.started_by == user
    [job] = queue.get_jobs()
    assert (job.func_name, list(job.args)) == ("clarity.jobs.validate_flow", [run.pk])
    event = AuditEvent.objects.get(action="validate")
    assert (event.user, event.flow_id, event.detail) == (user, flow.pk, {"validate_run": run.pk})


def test_a_finished_run_is_not_run_again_and_a_new_one_is_queued():
    flow = FlowFactory()
    done = ValidateRun.objects.create(flow=flow, status=ValidateStatus.SUCCEEDED)
    assert validate_flow(done.pk) == ValidateStatus.SUCCEEDED
    assert validate_run_start(flow=flow, user=None).pk != done.pk


def test_a_pair_validates_each_of_its_flows():
    flow = FlowFactory()
    other = FlowFactory(pair=flow.pair)
    runs = validate_pair_start(pair=flow.pair, user=None)
    assert sorted(r.flow_id for r in runs) == sorted([flow.pk, other.pk])
