"""Roles: what a finance user, a consultant and an operator may reach."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import ConnectionFactory, FlowFactory, RecordFactory


@pytest.mark.django_db
def test_the_roles_exist_with_their_permissions():
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    assert finance == {
        "view_syncrun",
        "view_syncrecord",
        "resolve_syncrecord",
        "retry_syncrecord",
        "view_alert",  # clarity/migrations/0008_alert_roles.py
    }
    consultant = set(
        Group.objects.get(name="Consultant").permissions.values_list("codename", flat=True)
    )
    assert {"change_connection", "change_flow", "change_integrationpair"} <= consultant
    assert "resolve_syncrecord" not in consultant
    assert Group.objects.filter(name="Operator").exists()


@pytest.mark.django_db
def test_finance_is_refused_credentials_pairs_and_flows(finance_client):
    conn = ConnectionFactory()
    flow = FlowFactory()
    forbidden = [
        reverse("admin:connectors_connection_changelist"),
        reverse("admin:connectors_connection_change", args=[conn.pk]),
        reverse("admin:connectors_connection_add"),
        reverse("admin:clarity_flow_changelist"),
        reverse("admin:clarity_flow_change", args=[flow.pk]),
        reverse("admin:clarity_integrationpair_changelist"),
    ]
    for url in forbidden:
        assert finance_client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_finance_reads_the_ledger_and_runs(finance_client):
    record = RecordFactory()
    assert finance_client.get(reverse("admin:clarity_syncrecord_changelist")).status_code == 200
    assert (
        finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk])).status_code
        == 200
    )
    assert finance_client.get(reverse("admin:clarity_syncrun_changelist")).status_code == 200
    index = finance_client.get(reverse("admin:index")).content.decode()
    assert "Connections" not in index


@pytest.mark.django_db
def test_rq_dashboard_is_for_operators_only(finance_client, consultant_client, operator_client,
                                            superuser_client):  # fmt: skip
    url = reverse("admin:django_rq_dashboard_changelist")
    queue_url = reverse("admin:django_rq_jobs", args=[0])
    for client in (finance_client, consultant_client):
        assert client.get(url).status_code == 403
        assert client.get(queue_url).status_code == 403
    for client in (operator_client, superuser_client):
        assert client.get(url).status_code == 200
