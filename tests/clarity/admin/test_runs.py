"""A run's page says what it reads: the records events named, or every change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import Flow, Trigger
from tests.clarity.api.test_views_rest import api
from tests.factories import FlowFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("run", "says"),
    [
        ({"target_ids": ["0000012", "0000013"]},
         "Only the 2 records events named: 0000012, 0000013."),
        ({"target_ids": ["inv-1"], "target_field": "Invoice.InvoiceID"},
         "Only the 1 records events named by Invoice.InvoiceID: inv-1."),
        ({"target_ids": [f"K{n:03}" for n in range(25)]}, "K019 and 5 more."),
        ({}, "Every change since the flow&#x27;s cursor."),
        ({"trigger": Trigger.RETRY}, "chosen to be sent again"),
    ],
)  # fmt: skip
def test_the_run_page_says_which_records_it_reads(operator_client, run, says):
    run = RunFactory(trigger=run.pop("trigger", Trigger.WEBHOOK), **run)
    page = operator_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert says in page.content.decode()


def test_the_health_api_says_how_each_flow_starts():
    flow = FlowFactory(poll_adaptive=True, poll_min_seconds=5, poll_max_seconds=60)
    Flow.objects.filter(pk=flow.pk).update(poll_interval_seconds=10)
    body = api(UserFactory(role="Operator")).get(f"/api/pairs/{flow.pair_id}/health/").json()
    assert body["pair"]["flows"][0]["polling"].startswith("adaptive poll every 10s now")
