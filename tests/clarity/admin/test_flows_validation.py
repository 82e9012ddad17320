"""Pairs and flows: configuration errors are caught when saved, naming the field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import Flow, IntegrationPair
from tests.factories import ConnectionFactory, FlowFactory, PairFactory

FLOW_ADD = reverse("admin:clarity_flow_add")


def flow_data(pair: IntegrationPair, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "pair": pair.pk,
        "name": "Customers → Contacts",
        "enabled": "on",
        "source_connection": pair.connection_a_id,
        "source_entity": "customers",
        "target_connection": pair.connection_b_id,
        "target_entity": "Contacts",
        "source_of_truth": "source",
        "business_key_field": "Customer",
        "batch_size": 100,
        "trigger_manual": "on",
        "trigger_schedule": "on",
        "schedule_cron": "*/15 * * * *",
        "cursor": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.django_db
def test_a_consultant_creates_a_scheduled_flow(consultant_client):
    pair = PairFactory()
    response = consultant_client.post(FLOW_ADD, flow_data(pair))
    assert response.status_code == 302
    flow = Flow.objects.get()
    assert flow.schedule_cron == "*/15 * * * *"
    assert flow.source_connection == pair.connection_a


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"schedule_cron": "every five minutes"}, "schedule_cron", "not a valid cron expression"),
        ({"schedule_cron": "61 * * * *"}, "schedule_cron", "not a valid cron expression"),
        ({"schedule_cron": ""}, "schedule_cron", "needs a cron schedule"),
        ({"trigger_manual": None, "trigger_schedule": None, "schedule_cron": ""}, "trigger_manual",
         "at least one way"),
        ({"batch_size": 0}, "batch_size", "greater than or equal to 1"),
    ],
)  # fmt: skip
def test_bad_flow_settings_are_form_errors_and_nothing_is_saved(
    consultant_client, overrides, field, message
):
    pair = PairFactory()
    response = consultant_client.post(FLOW_ADD, flow_data(pair, **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Flow.objects.exists()


@pytest.mark.django_db
def test_a_flow_must_use_the_pairs_own_connections(consultant_client):
    pair = PairFactory()
    stranger = ConnectionFactory(name="Someone else's Xero", system="xero")
    response = consultant_client.post(FLOW_ADD, flow_data(pair, target_connection=stranger.pk))
    errors = response.context["adminform"].form.errors
    assert "not one of pair" in " ".join(errors["target_connection"])

    response = consultant_client.post(
        FLOW_ADD, flow_data(pair, target_connection=pair.connection_a_id)
    )
    errors = response.context["adminform"].form.errors
    assert "must be different connections" in " ".join(errors["target_connection"])
    assert not Flow.objects.exists()


@pytest.mark.django_db
def test_flows_both_ways_must_agree_on_the_source_of_truth(consultant_client):
    pair = PairFactory()
    FlowFactory(pair=pair, name="Customers → Contacts")  # SYSPRO is its source of truth
    back = flow_data(
        pair,
        name="Contacts → Customers",
        source_connection=pair.connection_b_id,
        source_entity="Contacts",
        target_connection=pair.connection_a_id,
        target_entity="customers",
    )
    response = consultant_client.post(FLOW_ADD, back)  # "source": Xero would be the truth
    errors = response.context["adminform"].form.errors
    assert "Choose one system for both flows" in " ".join(errors["source_of_truth"])
    assert Flow.objects.count() == 1

    response = consultant_client.post(FLOW_ADD, {**back, "source_of_truth": "target"})
    assert response.status_code == 302
    assert Flow.objects.get(name="Contacts → Customers").counterpart().name == (
        "Customers → Contacts"
    )


@pytest.mark.django_db
def test_a_pair_needs_two_different_connections(consultant_client):
    conn = ConnectionFactory()
    response = consultant_client.post(
        reverse("admin:clarity_integrationpair_add"),
        {"name": "Loop", "connection_a": conn.pk, "connection_b": conn.pk, "active": "on"},
    )
    assert "two different connections" in " ".join(
        response.context["adminform"].form.errors["connection_b"]
    )
    assert not IntegrationPair.objects.exists()


@pytest.mark.django_db
def test_flow_changelist_makes_no_query_per_row(consultant_client, django_assert_max_num_queries):
    FlowFactory.create_batch(3)
    url = reverse("admin:clarity_flow_changelist")
    with django_assert_max_num_queries(12) as few:
        consultant_client.get(url)
    FlowFactory.create_batch(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert consultant_client.get(url).status_code == 200
