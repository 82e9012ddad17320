"""The flow page: event filters and adaptive polling set by a consultant, checked on save."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from clarity.models import Flow
from tests.clarity.admin.test_flows_validation import FLOW_ADD, flow_data
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db

CLOSED_WON = [{"entity": "Opportunity", "field": "StageName", "equals": "Closed Won"}]


def test_a_consultant_sets_an_event_filter_and_adaptive_polling(consultant_client):
    data = flow_data(PairFactory(), trigger_schedule=None, schedule_cron="",
                     trigger_webhook="on", event_filter=json.dumps(CLOSED_WON),
                     poll_adaptive="on", poll_min_seconds=3, poll_max_seconds=120)  # fmt: skip
    response = consultant_client.post(FLOW_ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    flow = Flow.objects.get()
    assert (flow.event_filter, flow.poll_min_seconds, flow.poll_max_seconds) == (CLOSED_WON, 3, 120)
    page = consultant_client.get(reverse("admin:clarity_flow_change", args=[flow.pk])).content
    assert "adaptive poll every 3s now" in page.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"event_filter": '{"field": "StageName"}'}, "event_filter", "a list of rules"),
        ({"event_filter": '[{"field": "StageName", "equal": "x"}]'}, "event_filter",
         "Rule 1: unknown key equal"),
        ({"event_filter": "[{"}, "event_filter", "Enter a valid JSON"),
        ({"poll_adaptive": "on", "poll_min_seconds": 50, "poll_max_seconds": 10},
         "poll_max_seconds", "at least the shortest"),
        ({"poll_adaptive": "on"}, "poll_adaptive", "either a cron schedule or adaptive polling"),
    ],
)  # fmt: skip
def test_bad_filters_and_bounds_are_form_errors_and_nothing_is_saved(
    consultant_client, overrides, field, says
):
    response = consultant_client.post(FLOW_ADD, flow_data(PairFactory(), **overrides))
    assert response.status_code == 200
    assert says in " ".join(response.context["adminform"].form.errors[field])
    assert not Flow.objects.exists()
