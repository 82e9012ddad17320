"""The "agent offline" rule: an alert when an on-premises agent is silent for more than N
minutes, and a "resolved" message when it polls again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from clarity.models import Alert, AlertKind, AlertRule
from clarity.services.alerts import alerts_check
from connectors.agents.models import Agent
from connectors.agents.services import agent_create, agent_polled, agent_revoke
from tests.factories import PairFactory

pytestmark = pytest.mark.django_db


def test_an_offline_agent_raises_one_alert_and_another_when_it_is_back():
    pair = PairFactory(name="SYSPRO ↔ Xero")
    agent, _ = agent_create(connection=pair.connection_a, name="warehouse server")
    AlertRule.objects.create(
        pair=pair, kind=AlertKind.AGENT_OFFLINE, grace_minutes=5, recipients="ops@example.com"
    )
    agent_polled(agent=agent, version="1.0", host="syspro-app01")
    assert alerts_check()["opened"] == 0  # heard from just now

    Agent.objects.filter(pk=agent.pk).update(last_heartbeat=timezone.now() - timedelta(minutes=6))
    assert alerts_check() == {"opened": 1, "resolved": 0, "open": 1}
    assert alerts_check()["opened"] == 0  # one alert for the whole outage
    assert len(mail.outbox) == 1
    assert "warehouse server" in mail.outbox[0].body and "offline" in mail.outbox[0].body

    agent_polled(agent=agent, version="1.0", host="syspro-app01")
    assert alerts_check()["resolved"] == 1
    assert len(mail.outbox) == 2 and "Resolved" in mail.outbox[1].subject
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()


def test_an_agent_never_connected_counts_from_its_creation_and_revoked_ones_are_not_watched():
    pair = PairFactory()
    never, _ = agent_create(connection=pair.connection_a, name="never installed")
    revoked, _ = agent_create(connection=pair.connection_a, name="retired")
    agent_revoke(agent=revoked)
    Agent.objects.update(created_at=timezone.now() - timedelta(hours=1))
    AlertRule.objects.create(
        pair=pair, kind=AlertKind.AGENT_OFFLINE, grace_minutes=5, recipients="ops@example.com"
    )
    assert alerts_check()["opened"] == 1
    [alert] = Alert.objects.all()
    assert alert.incident_key == f"agent:{never.pk}"
    assert "has never connected" in alert.last_message
