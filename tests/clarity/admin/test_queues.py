"""The RQ dashboard in the admin, as each role uses it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from clarity.sync.queues import get_queue, pair_queue_name
from tests.clarity.admin import operations
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db
flow = operations.flow
empty_queues = operations.empty_queues  # autouse: each test starts with its queue empty


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
